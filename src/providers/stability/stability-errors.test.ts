import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SecretValue } from '../../crypto/index.ts';
import type { Fault } from '../../simulator/faults.ts';
import { stabilitySimulation } from '../../simulator/providers/stability.ts';
import { type Simulator, startSimulator } from '../../simulator/server.ts';
import { isUpstreamError, type UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import { stabilityProvider } from './index.ts';
import { mapStabilityError } from './stability-errors.ts';

const KEY = `sk-test-stability-${randomBytes(16).toString('hex')}`;
let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [stabilitySimulation], keys: { stability: [KEY] } });
});
afterAll(() => simulator.close());
afterEach(() => simulator.reset());

async function generateError(fault?: Omit<Fault, 'provider'>, key = KEY): Promise<UpstreamError> {
  if (fault) simulator.addFault({ provider: 'stability', count: 1, ...fault });
  const adapter = stabilityProvider.createAdapter({
    baseURL: simulator.baseURL('stability'),
    fetch: globalThis.fetch,
    credentials: () => ({ apiKey: new SecretValue(key) }),
  });
  const error = await adapter.image?.generate({ prompt: 'a fox' }).catch((caught: unknown) => caught);
  if (!isUpstreamError(error)) throw new Error(`expected an UpstreamError, got ${String(error)}`);
  return error;
}

describe('stability error mapping (through the simulator)', () => {
  const cases: [string, Omit<Fault, 'provider'>, number, UpstreamErrorKind, string, boolean][] = [
    ['400 bad_request', { status: 400 }, 400, 'bad_request', 'bad_request', false],
    ['402 payment_required', { status: 402 }, 402, 'quota_exhausted', 'payment_required', false],
    [
      '429 meaning out of credits',
      { status: 429, quotaExhausted: true },
      402,
      'quota_exhausted',
      'payment_required',
      false,
    ],
    ['403 permission_denied', { status: 403 }, 403, 'permission', 'permission_denied', false],
    ['404 not_found', { status: 404 }, 404, 'not_found', 'not_found', false],
    ['429 rate_limit_exceeded', { status: 429 }, 429, 'rate_limited', 'rate_limit_exceeded', true],
    ['500 internal_error', { status: 500 }, 500, 'server_error', 'internal_error', true],
    ['503', { status: 503 }, 503, 'overloaded', 'service_unavailable', true],
  ];

  it.each(cases)('%s', async (_name, fault, status, kind, providerCode, retryable) => {
    const error = await generateError(fault);
    expect(error).toMatchObject({ status, kind, providerCode, retryable });
  });

  it('401 is authentication with the v1 message', async () => {
    const error = await generateError(undefined, 'sk-test-stability-unknown');
    expect(error).toMatchObject({ status: 401, kind: 'authentication', providerCode: 'unauthorized' });
    expect(error.message).toBe('stability: Incorrect API key provided');
  });

  it('402 says what to do in Stability words', async () => {
    const error = await generateError({ status: 402 });
    expect(error.message).toMatch(/lack sufficient credits/);
  });

  it('429 carries the time-out stated in the message', async () => {
    const error = await generateError({ status: 429, retryAfterSeconds: 30 });
    expect(error.retryAfterMs).toBe(30_000);
    expect(error.message).toMatch(/150 requests within a 10 second period/);
  });
});

describe('mapStabilityError', () => {
  it('reads the v1 envelope', () => {
    expect(
      mapStabilityError(
        403,
        {
          id: '296a972f-666a-44a1-a3df-c9c28a1f56c0',
          name: 'permission_denied',
          message: 'organization not found',
        },
        new Headers(),
      ),
    ).toEqual({ kind: 'permission', message: 'organization not found', providerCode: 'permission_denied' });
  });

  it('joins the v2beta errors and prefers a retry-after header to the message', () => {
    expect(
      mapStabilityError(
        429,
        { id: 'a1', name: 'rate_limit_exceeded', errors: ['timed out for 60 seconds', 'slow down'] },
        new Headers({ 'retry-after': '5' }),
      ),
    ).toEqual({
      kind: 'rate_limited',
      message: 'timed out for 60 seconds; slow down',
      providerCode: 'rate_limit_exceeded',
      retryAfterMs: 5000,
    });
  });

  it('falls back to the status and message when the name is unknown or absent', () => {
    expect(mapStabilityError(402, 'no credit', new Headers())).toEqual({ kind: 'quota_exhausted' });
    expect(
      mapStabilityError(
        403,
        { errors: ['Your request was flagged by our content moderation system.'] },
        new Headers(),
      ),
    ).toMatchObject({ kind: 'content_filtered' });
    expect(
      mapStabilityError(413, { id: 'x', name: 'payload_too_large', errors: ['too big'] }, new Headers()),
    ).toEqual({
      kind: 'bad_request',
      message: 'too big',
      providerCode: 'payload_too_large',
    });
    expect(mapStabilityError(500, null, new Headers())).toEqual({});
  });
});
