import { describe, expect, it } from 'vitest';
import { isMistralStreamError, mapMistralError, mistralStreamError } from './mistral-errors.ts';

// Bodies as Mistral sent them, quoted in public bug reports (2025-2026), and its documented envelope.
const headers = new Headers();

describe('mapMistralError', () => {
  it("reads the gateway's bare detail and older message shapes", () => {
    expect(mapMistralError(401, { detail: 'Unauthorized' }, headers)).toEqual({
      kind: 'authentication',
      message: 'Unauthorized',
    });
    expect(
      mapMistralError(
        401,
        { message: 'Unauthorized', request_id: 'c61f2f15feca71626a990e3740f99245' },
        headers,
      ),
    ).toEqual({ kind: 'authentication', message: 'Unauthorized' });
    expect(mapMistralError(429, { message: 'Requests rate limit exceeded' }, headers)).toEqual({
      kind: 'rate_limited',
      message: 'Requests rate limit exceeded',
    });
  });

  it('reads the documented envelope, keeping the code', () => {
    const body = {
      object: 'error',
      message: 'Rate limit exceeded',
      type: 'rate_limited',
      param: null,
      code: '1300',
    };
    expect(mapMistralError(429, body, headers)).toEqual({
      kind: 'rate_limited',
      message: 'Rate limit exceeded',
      providerCode: '1300',
    });
  });

  it('tells capacity and billing apart from a rate limit', () => {
    const capacity = {
      object: 'error',
      message: 'Service tier capacity exceeded for this model.',
      type: 'invalid_request_error',
      param: null,
      code: null,
    };
    expect(mapMistralError(429, capacity, headers).kind).toBe('overloaded');
    expect(mapMistralError(402, { object: 'error', message: 'Payment required' }, headers).kind).toBe(
      'quota_exhausted',
    );
    expect(mapMistralError(429, { message: 'Monthly spending limit reached' }, headers).kind).toBe(
      'quota_exhausted',
    );
  });

  it('lists validation failures and stringifies a structured message', () => {
    const validation = { detail: [{ type: 'missing', loc: ['body', 'messages'], msg: 'Field required' }] };
    expect(mapMistralError(422, validation, headers)).toEqual({
      kind: 'bad_request',
      message: 'body.messages: Field required',
    });
    const nested = {
      object: 'error',
      message: { detail: [{ msg: 'Extra inputs are not permitted' }] },
      type: 'x',
    };
    expect(mapMistralError(400, nested, headers).message).toContain('Extra inputs are not permitted');
  });
});

describe('mistral stream errors', () => {
  it('recognises both error shapes and redacts secrets', () => {
    const secret = 'sk-test-CANARY-mistral-0123456789';
    const data = { object: 'error', message: `failed for ${secret}`, type: 'server_error', code: null };
    expect(isMistralStreamError(data)).toBe(true);
    expect(isMistralStreamError({ error: { message: 'x' } })).toBe(true);
    expect(isMistralStreamError({ object: 'chat.completion.chunk', choices: [] })).toBe(false);
    const error = mistralStreamError(data, [secret]);
    expect(error).toMatchObject({ kind: 'server_error', providerCode: 'server_error' });
    expect(`${error.message}${error.body}`).not.toContain(secret);
  });
});
