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
import { runwaySimulation } from '../../simulator/providers/runway.ts';
import type { Credentials, ProviderAdapter } from '../spec.ts';
import { isUpstreamError } from '../upstream-error.ts';
import { runwayProvider } from './index.ts';

const KEY = `key_test_${randomBytes(16).toString('hex')}`;

const simulator = useSimulator({ providers: [runwaySimulation], keys: { runway: [KEY] } });

function adapter(credentials: () => Credentials, baseURL = simulator.baseURL('runway')): ProviderAdapter {
  return runwayProvider.createAdapter({ baseURL, fetch: globalThis.fetch, credentials });
}

describe('runway validate', () => {
  it('is valid for an accepted key, with the version header and the key only in Authorization', async () => {
    const result = await adapter(() => ({
      apiKey: new SecretValue(KEY),
      organization: new SecretValue('org-informational'),
    })).validate();
    expect(result).toEqual({ status: 'valid' });
    const [request] = simulator.requests;
    expect(request?.path).toBe('/v1/organization');
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request?.headers['x-runway-version']).toBe('2024-11-06');
    // Runway has no organization header: the field is informational and never leaves Keyhaven.
    expect(JSON.stringify(request?.headers)).not.toContain('org-informational');
  });

  it("is invalid for an unknown key, with Runway's reason", async () => {
    const result = await adapter(keyOnly('key_test_unknown')).validate();
    expect(result.status).toBe('invalid');
    expect(result.status === 'invalid' && result.reason).toMatch(/API key you provided is incorrect/);
  });

  it('is unreachable when nothing listens', async () => {
    const result = await adapter(keyOnly(KEY), await closedPortURL()).validate();
    expect(result).toEqual({ status: 'unreachable', reason: 'runway: could not connect to the provider' });
  });

  it('is rate-limited with the wait Runway announces', async () => {
    simulator.addFault({ provider: 'runway', status: 429, retryAfterSeconds: 7, count: 1 });
    expect(await adapter(keyOnly(KEY)).validate()).toEqual({ status: 'rate_limited', retryAfterMs: 7000 });
    expect(await adapter(keyOnly(KEY)).validate()).toEqual({ status: 'valid' });
  });

  it('is invalid, without a request, when the credential has no apiKey', async () => {
    const result = await adapter(() => ({})).validate();
    expect(result).toEqual({ status: 'invalid', reason: 'runway: the credential has no apiKey' });
    expect(simulator.requests).toHaveLength(0);
  });
});

describe('runway credentials', () => {
  it('reads the credential when each request is made, never when the adapter is built', async () => {
    let current = KEY;
    const read = vi.fn(() => ({ apiKey: new SecretValue(current) }));
    const runway = adapter(read);
    expect(read).not.toHaveBeenCalled();
    expect(await runway.validate()).toEqual({ status: 'valid' });
    current = 'key_test_rotated_away';
    expect((await runway.validate()).status).toBe('invalid');
    expect(read).toHaveBeenCalledTimes(2);
    expect(simulator.requests.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${KEY}`,
      'Bearer key_test_rotated_away',
    ]);
  });
});

describe('runway secrets', () => {
  it('never shows the key in errors, logs or request URLs', async () => {
    const canary = `key_test_CANARY_${randomBytes(12).toString('hex')}`;
    const errors: unknown[] = [];
    const collect = async (promise: Promise<unknown>) => {
      try {
        errors.push(await promise);
      } catch (error) {
        errors.push(error);
      }
    };
    const printed = await capturingConsole(async () => {
      const unknownKey = adapter(keyOnly(canary));
      await collect(unknownKey.validate());
      await collect(unknownKey.video?.start({ prompt: 'a fox' }) ?? Promise.resolve());

      simulator.addKey('runway', canary);
      const accepted = adapter(keyOnly(canary));
      for (const status of [400, 403, 429, 500, 503] as const) {
        simulator.addFault({ provider: 'runway', status, retryAfterSeconds: 1, count: 1 });
        await collect(accepted.video?.start({ prompt: 'a fox' }) ?? Promise.resolve());
      }
      const started = await accepted.video?.start({ prompt: 'a fox' });
      await collect(accepted.video?.status(started?.operation ?? '') ?? Promise.resolve());

      // A provider that echoes the key back (Runway does not; some do) is redacted all the same.
      const echoing = runwayProvider.createAdapter({
        baseURL: 'http://runway.invalid',
        fetch: async () =>
          new Response(
            JSON.stringify({ error: `bad key ${canary}`, docUrl: `https://x.invalid/?k=${canary}` }),
            {
              status: 400,
            },
          ),
        credentials: keyOnly(canary),
      });
      await collect(echoing.video?.start({ prompt: 'a fox' }) ?? Promise.resolve());
      await collect(adapter(keyOnly(canary), await closedPortURL()).validate());
    });
    const upstreamErrors = errors.filter((error) => isUpstreamError(error));
    expect(upstreamErrors.length).toBeGreaterThanOrEqual(7);
    for (const view of errors.flatMap(errorViews)) expect(view).not.toContain(canary);
    expect(printed.join('\n')).not.toContain(canary);
    for (const request of simulator.requests) expect(request.path).not.toContain(canary);
  });
});
