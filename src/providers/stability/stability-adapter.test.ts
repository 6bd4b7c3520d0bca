import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  capturingConsole,
  closedPortURL,
  errorViews,
  keyOnly,
  useSimulator,
} from '../../../test/support/providers.ts';
import { SecretValue } from '../../crypto/index.ts';
import { stabilitySimulation } from '../../simulator/providers/stability.ts';
import type { Credentials, ProviderAdapter } from '../spec.ts';
import { isUpstreamError } from '../upstream-error.ts';
import { stabilityProvider } from './index.ts';

const KEY = `sk-test-stability-${randomBytes(16).toString('hex')}`;

const simulator = useSimulator({ providers: [stabilitySimulation], keys: { stability: [KEY] } });

function adapter(
  credentials: () => Credentials,
  {
    baseURL = simulator.baseURL('stability'),
    fetch = globalThis.fetch,
  }: { baseURL?: string; fetch?: typeof globalThis.fetch } = {},
): ProviderAdapter {
  return stabilityProvider.createAdapter({ baseURL, fetch, credentials });
}

describe('stability validate', () => {
  it('is valid for an accepted key, sending the organization in its header', async () => {
    const result = await adapter(() => ({
      apiKey: new SecretValue(KEY),
      organization: new SecretValue('org-5678'),
    })).validate();
    expect(result).toEqual({ status: 'valid' });
    const [request] = simulator.requests;
    expect(request?.path).toBe('/v1/user/balance');
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request?.headers.organization).toBe('org-5678');
    expect(request?.headers.accept).toBe('application/json');
  });

  it('sends no Organization header when the field is not set', async () => {
    await adapter(keyOnly(KEY)).validate();
    expect(simulator.requests[0]?.headers).not.toHaveProperty('organization');
  });

  it("is invalid for an unknown key, with Stability's reason", async () => {
    expect(await adapter(keyOnly('sk-test-stability-unknown')).validate()).toEqual({
      status: 'invalid',
      reason: 'stability: Incorrect API key provided',
    });
  });

  it('is unreachable when nothing listens', async () => {
    expect(await adapter(keyOnly(KEY), { baseURL: await closedPortURL() }).validate()).toEqual({
      status: 'unreachable',
      reason: 'stability: could not connect to the provider',
    });
  });

  it('is rate-limited for the time-out Stability states in its message', async () => {
    simulator.addFault({ provider: 'stability', status: 429, retryAfterSeconds: 9, count: 1 });
    expect(await adapter(keyOnly(KEY)).validate()).toEqual({ status: 'rate_limited', retryAfterMs: 9000 });
    simulator.addFault({ provider: 'stability', status: 429, count: 1 });
    expect(await adapter(keyOnly(KEY)).validate()).toEqual({ status: 'rate_limited', retryAfterMs: 60_000 });
    expect(await adapter(keyOnly(KEY)).validate()).toEqual({ status: 'valid' });
  });
});

describe('stability credentials', () => {
  it('reads the credential when each request is made, never when the adapter is built', async () => {
    let current = KEY;
    const read = vi.fn(() => ({ apiKey: new SecretValue(current) }));
    const stability = adapter(read);
    expect(read).not.toHaveBeenCalled();
    expect(await stability.validate()).toEqual({ status: 'valid' });
    current = 'sk-test-stability-rotated';
    expect((await stability.validate()).status).toBe('invalid');
    expect(read).toHaveBeenCalledTimes(2);
  });
});

describe('stability retired video', () => {
  it('answers capability_retired with the date, without a request or reading the credential', async () => {
    const fetchSpy = vi.fn(globalThis.fetch);
    const credentials = vi.fn(keyOnly(KEY));
    const { video } = adapter(credentials, { fetch: fetchSpy });
    const attempts = [
      video?.start({ prompt: 'a wave', image: 'https://example.com/a.png' }),
      video?.status('anything'),
      video?.cancel?.('anything'),
    ];
    for (const attempt of attempts) {
      const error = await Promise.resolve(attempt).catch((caught: unknown) => caught);
      expect(isUpstreamError(error, 'capability_retired')).toBe(true);
      expect(isUpstreamError(error) && error.retryable).toBe(false);
      expect(String(error)).toMatch(/retired by Stability AI on 2025-07-24/);
    }
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(credentials).not.toHaveBeenCalled();
    expect(simulator.requests).toHaveLength(0);
    expect(stabilityProvider.capabilities.video?.status).toEqual({
      state: 'retired',
      date: '2025-07-24',
      reason: expect.stringContaining('image-to-video'),
    });
  });
});

describe('stability secrets', () => {
  it('never shows the key in errors, logs or request URLs', async () => {
    const canary = `sk-test-stability-CANARY_${randomBytes(12).toString('hex')}`;
    const errors: unknown[] = [];
    const collect = async (promise: Promise<unknown> | undefined) => {
      try {
        errors.push(await promise);
      } catch (error) {
        errors.push(error);
      }
    };
    const printed = await capturingConsole(async () => {
      await collect(adapter(keyOnly(canary)).validate());
      await collect(adapter(keyOnly(canary)).image?.generate({ prompt: 'a fox' }));
      simulator.addKey('stability', canary);
      const accepted = adapter(keyOnly(canary));
      for (const status of [400, 402, 403, 429, 500, 503] as const) {
        simulator.addFault({ provider: 'stability', status, count: 1 });
        await collect(accepted.image?.generate({ prompt: 'a fox' }));
      }
      await collect(accepted.image?.generate({ prompt: 'simulate:moderation' }));
      await collect(accepted.image?.generate({ prompt: 'simulate:filter' }));
      const echoing = adapter(keyOnly(canary), {
        baseURL: 'http://stability.invalid',
        fetch: async () =>
          Response.json(
            { id: 'x', name: 'unauthorized', message: `key ${canary} is not valid` },
            { status: 401 },
          ),
      });
      await collect(echoing.image?.generate({ prompt: 'a fox' }));
      await collect(adapter(keyOnly(canary), { baseURL: await closedPortURL() }).validate());
    });
    expect(errors.filter((error) => isUpstreamError(error)).length).toBeGreaterThanOrEqual(9);
    for (const view of errors.flatMap(errorViews)) expect(view).not.toContain(canary);
    expect(printed.join('\n')).not.toContain(canary);
    for (const request of simulator.requests) expect(request.path).not.toContain(canary);
  });
});
