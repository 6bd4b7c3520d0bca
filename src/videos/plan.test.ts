import { describe, expect, it } from 'vitest';
import { isKeyhavenError } from '../errors.ts';
import { builtInProviders } from '../providers/builtin.ts';
import { defaultPriceTable } from '../providers/prices/index.ts';
import { planAttempt, planVideoJob } from './plan.ts';

const byId = new Map(builtInProviders.map((definition) => [definition.id, definition]));
const providers = (id: string) => byId.get(id);
const definition = (id: string) => {
  const found = byId.get(id);
  if (!found) throw new Error(`no provider ${id}`);
  return found;
};
const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
};

describe('planAttempt', () => {
  it('fills the defaults a provider declares and estimates the cost', () => {
    const attempt = planAttempt(
      definition('google-veo'),
      { prompt: 'a cat', model: 'veo-3.1-fast-generate-preview', durationSeconds: 8, resolution: '1080p' },
      defaultPriceTable,
    );
    // 8 s × 0.12 USD at 1080p = 960000 micro-USD.
    expect(attempt).toMatchObject({
      provider: 'google-veo',
      durationSeconds: 8,
      resolution: '1080p',
      aspectRatio: '16:9',
      estimatedCost: 960_000,
    });
  });

  it('refuses values outside the declared limits, listing the allowed ones', () => {
    const error = refusal(() =>
      planAttempt(
        definition('google-veo'),
        { prompt: 'x', model: 'veo-3.1-fast-generate-preview', durationSeconds: 7 },
        defaultPriceTable,
      ),
    );
    expect(isKeyhavenError(error, 'unsupported_request')).toBe(true);
    const details = (error as { details?: { field?: string; allowed?: unknown[] } }).details;
    expect(details?.field).toBe('durationSeconds');
    expect(details?.allowed?.length).toBeGreaterThan(0);
    expect(String(error)).toMatch(/allowed: /);
    expect(
      isKeyhavenError(
        refusal(() => planAttempt(definition('luma'), { prompt: 'x', model: 'ray-99' }, defaultPriceTable)),
        'unsupported_request',
      ),
    ).toBe(true);
    expect(
      isKeyhavenError(
        refusal(() => planAttempt(definition('anthropic'), { prompt: 'x' }, defaultPriceTable)),
        'unsupported_request',
      ),
    ).toBe(true);
  });

  it('answers retired video with capability_retired and its date', () => {
    for (const [id, date] of [
      ['openai', '2026-09-24'],
      ['stability', '2025-07-24'],
    ] as const) {
      const error = refusal(() => planAttempt(definition(id), { prompt: 'x' }, defaultPriceTable));
      expect(isKeyhavenError(error, 'capability_retired')).toBe(true);
      expect(String(error)).toContain(date);
    }
  });
});

describe('planVideoJob', () => {
  it('keeps an explicit failover order and refuses duplicates', () => {
    const attempts = planVideoJob({
      request: { prompt: 'x' },
      choice: { providers: ['luma', 'google-veo'] },
      providers,
      connected: [],
      prices: defaultPriceTable,
    });
    expect(attempts.map((attempt) => attempt.provider)).toEqual(['luma', 'google-veo']);
    expect(
      isKeyhavenError(
        refusal(() =>
          planVideoJob({
            request: { prompt: 'x' },
            choice: { providers: ['luma', 'luma'] },
            providers,
            connected: [],
            prices: defaultPriceTable,
          }),
        ),
        'invalid_request',
      ),
    ).toBe(true);
  });

  it('chooses the cheapest among connected providers able to do the request, unpriced last', () => {
    const attempts = planVideoJob({
      request: { prompt: 'x', resolution: '720p' },
      choice: { strategy: 'cheapest' },
      providers,
      connected: ['luma', 'google-veo', 'openai', 'anthropic'],
      prices: defaultPriceTable,
    });
    expect(attempts.map((attempt) => attempt.provider)).toEqual(['google-veo', 'luma']);
    expect(attempts[0]?.estimatedCost).toBeGreaterThan(0);
    expect(attempts.at(-1)?.estimatedCost ?? null).toBeNull();
    const costs = attempts.map((attempt) => attempt.estimatedCost).filter((cost) => cost !== null);
    expect(costs).toEqual([...costs].sort((a, b) => a - b));
  });

  it('says when no connected provider can do it, with each reason', () => {
    const error = refusal(() =>
      planVideoJob({
        request: { prompt: 'x' },
        choice: { strategy: 'cheapest' },
        providers,
        connected: ['openai', 'mistral'],
        prices: defaultPriceTable,
      }),
    );
    expect(isKeyhavenError(error, 'unsupported_request')).toBe(true);
    expect(JSON.stringify((error as { details?: unknown }).details)).toContain('2026-09-24');
  });
});
