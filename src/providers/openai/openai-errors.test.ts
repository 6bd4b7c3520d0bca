import { describe, expect, it } from 'vitest';
import { mapOpenAIError, openAIStreamError, waitFromMessage } from './openai-errors.ts';

// Bodies as OpenAI sent them (reference/providers.md section 1, quoted from user logs).
const RATE_LIMITED = {
  error: {
    message:
      'Rate limit reached for gpt-4o in organization org-XXX on tokens per min (TPM): Limit 30000, Used 29937, Requested 385. Please try again in 644ms. Visit https://platform.openai.com/account/rate-limits to learn more.',
    type: 'tokens',
    param: null,
    code: 'rate_limit_exceeded',
  },
};
const INVALID_KEY = {
  error: {
    message:
      'Incorrect API key provided: sk-VKMIs***wjh3. You can find your API key at https://platform.openai.com/account/api-keys.',
    type: 'invalid_request_error',
    param: null,
    code: 'invalid_api_key',
  },
};

describe('waitFromMessage', () => {
  it('reads the wait OpenAI writes in its rate-limit messages', () => {
    expect(waitFromMessage('Please try again in 644ms. Visit ...')).toBe(644);
    expect(waitFromMessage('Please try again in 1.5s.')).toBe(1500);
    expect(waitFromMessage('Please try again in 6m0s.')).toBe(360_000);
    expect(waitFromMessage('Please try again later.')).toBeUndefined();
    expect(waitFromMessage(undefined)).toBeUndefined();
  });
});

describe('mapOpenAIError', () => {
  it('falls back to the message when a 429 carries no wait headers', () => {
    expect(mapOpenAIError(429, RATE_LIMITED, new Headers())).toEqual({
      kind: 'rate_limited',
      message: RATE_LIMITED.error.message,
      providerCode: 'rate_limit_exceeded',
      retryAfterMs: 644,
    });
  });

  it('prefers the headers over the message', () => {
    const headers = new Headers({ 'retry-after-ms': '1200' });
    expect(mapOpenAIError(429, RATE_LIMITED, headers).retryAfterMs).toBe(1200);
  });

  it('tells a spent quota from a rate limit by its code or type', () => {
    const quota = {
      error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: null },
    };
    expect(mapOpenAIError(429, quota, new Headers())).toMatchObject({
      kind: 'quota_exhausted',
      providerCode: 'insufficient_quota',
    });
    expect(mapOpenAIError(429, quota, new Headers())).not.toHaveProperty('retryAfterMs');
  });

  it('maps by status otherwise, keeping the code', () => {
    expect(mapOpenAIError(401, INVALID_KEY, new Headers())).toMatchObject({
      kind: 'authentication',
      providerCode: 'invalid_api_key',
    });
    expect(
      mapOpenAIError(400, { error: { message: 'x', code: 'content_policy_violation' } }, new Headers()),
    ).toMatchObject({ kind: 'content_filtered' });
    expect(mapOpenAIError(502, '<html>Bad gateway</html>', new Headers())).toEqual({ kind: 'overloaded' });
  });
});

describe('openAIStreamError', () => {
  it('classifies an in-stream error and redacts secrets from its message and body', () => {
    const secret = 'sk-test-CANARY-stream-0123456789';
    const error = openAIStreamError(
      {
        message: `Rate limit reached for key ${secret}. Please try again in 2s.`,
        type: 'requests',
        code: null,
      },
      [secret],
    );
    expect(error).toMatchObject({ kind: 'rate_limited', retryable: true, retryAfterMs: 2000 });
    expect(`${error.message}${error.body}`).not.toContain(secret);
    expect(openAIStreamError({ message: 'boom', type: 'server_error' }, [])).toMatchObject({
      kind: 'server_error',
      providerCode: 'server_error',
    });
  });
});
