import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, simulatorKeys, startProviderSimulator } from '../../src/simulator/index.ts';
import { carriesRateLimitHeadroom, parseDurationMs, readRateLimitHeadroom } from '../../src/usage/index.ts';

/**
 * Rate-limit headroom read from the headers the simulated providers send (the formats of
 * reference/providers.md). How it is kept and stored: usage-store.test.ts.
 */
const NOW = new Date('2026-11-21T12:00:00.000Z');

describe('rate-limit headers', () => {
  let simulator: Simulator;
  const keys = simulatorKeys();
  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
  });
  afterAll(async () => {
    await simulator?.close();
  });

  const chat = (url: string, headers: Record<string, string>, body: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it("reads OpenAI's counts and duration resets", async () => {
    const response = await chat(
      `${simulator.baseURL('openai')}/chat/completions`,
      { authorization: `Bearer ${keys.openai?.[0]}` },
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] },
    );
    expect(response.status).toBe(200);
    const headroom = readRateLimitHeadroom('openai', response.headers, NOW);
    const limit = Number(response.headers.get('x-ratelimit-limit-requests'));
    expect(headroom).toEqual({
      // The simulator answers 12ms and 0s.
      requests: { limit, remaining: limit - 1, resetAt: '2026-11-21T12:00:00.012Z' },
      tokens: {
        limit: Number(response.headers.get('x-ratelimit-limit-tokens')),
        remaining: Number(response.headers.get('x-ratelimit-remaining-tokens')),
        resetAt: '2026-11-21T12:00:00.000Z',
      },
    });
  });

  it("reads Anthropic's four limits and RFC 3339 resets", async () => {
    const response = await chat(
      `${simulator.baseURL('anthropic')}/v1/messages`,
      { 'x-api-key': keys.anthropic?.[0] ?? '', 'anthropic-version': '2023-06-01' },
      { model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] },
    );
    expect(response.status).toBe(200);
    const headroom = readRateLimitHeadroom('anthropic', response.headers, NOW);
    const reset = new Date(
      Date.parse(response.headers.get('anthropic-ratelimit-requests-reset') ?? ''),
    ).toISOString();
    expect(headroom).toEqual({
      requests: { limit: 1000, remaining: 999, resetAt: reset },
      tokens: { limit: 2_000_000, remaining: 1_999_999, resetAt: reset },
      inputTokens: { limit: 1_600_000, remaining: 1_599_999, resetAt: reset },
      outputTokens: { limit: 400_000, remaining: 399_999, resetAt: reset },
    });
  });

  it("reads Mistral's per-minute counts, and nothing from a provider that sends none", () => {
    expect(
      readRateLimitHeadroom(
        'mistral',
        {
          'X-RateLimit-Limit-Req-Minute': '60',
          'x-ratelimit-remaining-req-minute': '59',
          'x-ratelimit-limit-tokens-minute': '500000',
          'x-ratelimit-remaining-tokens-minute': '499990',
        },
        NOW,
      ),
    ).toEqual({
      requests: { limit: 60, remaining: 59, resetAt: null },
      tokens: { limit: 500_000, remaining: 499_990, resetAt: null },
    });
    expect(
      readRateLimitHeadroom('google-gemini', { 'content-type': 'application/json' }, NOW),
    ).toBeUndefined();
    // Malformed figures are ignored rather than stored.
    expect(
      readRateLimitHeadroom(
        'openai',
        { 'x-ratelimit-remaining-requests': 'lots', 'x-ratelimit-limit-requests': '5' },
        NOW,
      ),
    ).toBeUndefined();
  });

  it('tells cheaply whether a response carries headroom, whatever the case of its header names', () => {
    expect(carriesRateLimitHeadroom('openai', { 'X-RateLimit-Remaining-Tokens': '10' })).toBe(true);
    expect(carriesRateLimitHeadroom('anthropic', { 'anthropic-ratelimit-requests-remaining': '9' })).toBe(
      true,
    );
    expect(carriesRateLimitHeadroom('mistral', { 'x-ratelimit-remaining-req-minute': '59' })).toBe(true);
    expect(carriesRateLimitHeadroom('runway', new Headers({ 'RateLimit-Remaining': '3' }))).toBe(true);
    // A limit without its remaining count says nothing; nor does a provider that sends none.
    expect(carriesRateLimitHeadroom('openai', { 'x-ratelimit-limit-requests': '5' })).toBe(false);
    expect(carriesRateLimitHeadroom('google-gemini', { 'content-type': 'application/json' })).toBe(false);
  });

  it('parses OpenAI durations', () => {
    expect(parseDurationMs('6m0s')).toBe(360_000);
    expect(parseDurationMs('12ms')).toBe(12);
    expect(parseDurationMs('1s')).toBe(1000);
    expect(parseDurationMs('1h2m3.5s')).toBe(3_723_500);
    expect(parseDurationMs('')).toBeUndefined();
    expect(parseDurationMs('soon')).toBeUndefined();
  });
});
