import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SecretValue } from '../../crypto/index.ts';
import type { Fault } from '../../simulator/faults.ts';
import { runwaySimulation } from '../../simulator/providers/runway.ts';
import { type Simulator, startSimulator } from '../../simulator/server.ts';
import { isUpstreamError, type UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import { runwayProvider } from './index.ts';
import { mapRunwayError } from './runway-errors.ts';
import { encodeRunwayOperation } from './runway-operation.ts';

const KEY = `key_test_${randomBytes(16).toString('hex')}`;
let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [runwaySimulation], keys: { runway: [KEY] } });
});
afterAll(() => simulator.close());
afterEach(() => simulator.reset());

function video(key = KEY) {
  const adapter = runwayProvider.createAdapter({
    baseURL: simulator.baseURL('runway'),
    fetch: globalThis.fetch,
    credentials: () => ({ apiKey: new SecretValue(key) }),
  });
  if (!adapter.video) throw new Error('runway has a video model');
  return adapter.video;
}

async function startError(fault?: Omit<Fault, 'provider'>, key = KEY): Promise<UpstreamError> {
  if (fault) simulator.addFault({ provider: 'runway', count: 1, ...fault });
  const error = await video(key)
    .start({ prompt: 'a fox' })
    .catch((caught: unknown) => caught);
  if (!isUpstreamError(error)) throw new Error(`expected an UpstreamError, got ${String(error)}`);
  return error;
}

describe('runway error mapping (through the simulator)', () => {
  const cases: [string, Omit<Fault, 'provider'>, UpstreamErrorKind, boolean, RegExp][] = [
    ['400', { status: 400 }, 'bad_request', false, /Bad request/],
    ['400 out of credits', { status: 400, quotaExhausted: true }, 'quota_exhausted', false, /enough credits/],
    ['403', { status: 403 }, 'permission', false, /permission/],
    [
      '429 daily task limit',
      { status: 429, quotaExhausted: true },
      'quota_exhausted',
      false,
      /daily task limit/,
    ],
    ['500', { status: 500 }, 'server_error', true, /internal error/],
    ['502', { status: 502 }, 'overloaded', true, /shedding load/],
    ['503', { status: 503 }, 'overloaded', true, /shedding load/],
    ['504', { status: 504 }, 'overloaded', true, /overloaded/],
  ];

  it.each(cases)('%s', async (_name, fault, kind, retryable, message) => {
    const error = await startError(fault);
    expect(error.kind).toBe(kind);
    expect(error.retryable).toBe(retryable);
    expect(error.status).toBe(fault.status);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith('runway: ')).toBe(true);
  });

  it('401 is authentication, with what Runway says', async () => {
    const error = await startError(undefined, 'key_test_not_accepted');
    expect(error).toMatchObject({ kind: 'authentication', status: 401, retryable: false });
    expect(error.message).toMatch(/API key you provided is incorrect/);
  });

  it('429 is rate_limited and retryable, with the wait from retry-after', async () => {
    const error = await startError({ status: 429, retryAfterSeconds: 12 });
    expect(error).toMatchObject({ kind: 'rate_limited', status: 429, retryable: true, retryAfterMs: 12_000 });
  });

  it('404 for a task Runway does not know is not_found', async () => {
    const operation = encodeRunwayOperation({
      taskId: '0f9d4c1e-0000-4000-8000-000000000000',
      model: 'gen4.5',
      durationSeconds: 5,
      resolution: '720p',
    });
    const error = await video()
      .status(operation)
      .catch((caught: unknown) => caught);
    expect(isUpstreamError(error, 'not_found')).toBe(true);
    expect(String(error)).toBe('UpstreamError: runway: Could not find Task');
  });
});

describe('mapRunwayError', () => {
  it('folds validation issues into the message, each with its field', () => {
    // Recorded shape of a Runway body-validation failure.
    const body = {
      error: 'Validation of body failed',
      issues: [
        {
          code: 'custom',
          message: 'Failed to fetch asset. Received HTTP response code "404".',
          path: ['promptImage'],
        },
        { code: 'invalid_enum_value', message: 'Invalid enum value', path: ['ratio'] },
      ],
      docUrl: 'https://docs.dev.runwayml.com/api',
    };
    expect(mapRunwayError(400, body)).toEqual({
      message:
        'Validation of body failed: promptImage: Failed to fetch asset. Received HTTP response code "404".; ratio: Invalid enum value',
    });
  });

  it('leaves an unreadable body to the status', () => {
    expect(mapRunwayError(401, '<html>nope</html>')).toEqual({});
    expect(mapRunwayError(502, null)).toEqual({ kind: 'overloaded' });
    expect(mapRunwayError(405, { error: 'Method Not Allowed' })).toEqual({
      kind: 'bad_request',
      message: 'Method Not Allowed',
    });
  });
});
