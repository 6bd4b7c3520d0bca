import { describe, expect, it } from 'vitest';
import { googleStreamError, mapGoogleError } from './google-gemini-errors.ts';

/** Bodies as Google sends them (reference/providers.md, sections 3 and 4): the mapper reads details first. */
const headers = new Headers();

const freeTierPerMinute = {
  error: {
    code: 429,
    message: 'You exceeded your current quota, please check your plan and billing details.',
    status: 'RESOURCE_EXHAUSTED',
    details: [
      {
        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
        violations: [
          {
            quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
            quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
            quotaValue: '10',
          },
        ],
      },
      { '@type': 'type.googleapis.com/google.rpc.Help', links: [] },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37.2s' },
    ],
  },
};

function withViolation(quotaId: string, quotaValue: string, retryDelay?: string) {
  return {
    error: {
      ...freeTierPerMinute.error,
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
          violations: [
            {
              quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
              quotaId,
              quotaValue,
            },
          ],
        },
        ...(retryDelay ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay }] : []),
      ],
    },
  };
}

describe('mapGoogleError', () => {
  it('reads a per-minute 429 as a rate limit with the RetryInfo wait', () => {
    expect(mapGoogleError(429, freeTierPerMinute, headers)).toEqual({
      kind: 'rate_limited',
      message: 'You exceeded your current quota, please check your plan and billing details.',
      providerCode: 'RESOURCE_EXHAUSTED',
      retryAfterMs: 37_200,
    });
  });

  it('reads a spent daily quota, or a zero free-tier allowance, as quota exhausted even with a retryDelay', () => {
    const daily = mapGoogleError(
      429,
      withViolation('GenerateRequestsPerDayPerProjectPerModel-FreeTier', '250'),
      headers,
    );
    expect(daily.kind).toBe('quota_exhausted');
    expect(daily.retryAfterMs).toBeUndefined();
    const dailyWithDelay = mapGoogleError(
      429,
      withViolation('GenerateRequestsPerDayPerProjectPerModel-FreeTier', '250', '20s'),
      headers,
    );
    expect(dailyWithDelay).toMatchObject({ kind: 'quota_exhausted', retryAfterMs: 20_000 });
    const noFreeTier = mapGoogleError(
      429,
      withViolation('GenerateRequestsPerMinutePerProjectPerModel-FreeTier', '0'),
      headers,
    );
    expect(noFreeTier.kind).toBe('quota_exhausted');
  });

  it('reads a bare Vertex 429 (no details) as a rate limit without a wait', () => {
    const vertex = {
      error: {
        code: 429,
        message: 'Resource exhausted. Please try again later.',
        status: 'RESOURCE_EXHAUSTED',
      },
    };
    expect(mapGoogleError(429, vertex, headers)).toEqual({
      kind: 'rate_limited',
      message: 'Resource exhausted. Please try again later.',
      providerCode: 'RESOURCE_EXHAUSTED',
    });
  });

  it('maps by ErrorInfo reason before status', () => {
    const withReason = (code: number, status: string, reason: string) => ({
      error: {
        code,
        message: reason,
        status,
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com' }],
      },
    });
    expect(
      mapGoogleError(400, withReason(400, 'INVALID_ARGUMENT', 'API_KEY_INVALID'), headers),
    ).toMatchObject({
      kind: 'authentication',
      providerCode: 'API_KEY_INVALID',
    });
    expect(mapGoogleError(403, withReason(403, 'PERMISSION_DENIED', 'SERVICE_DISABLED'), headers).kind).toBe(
      'permission',
    );
    expect(
      mapGoogleError(403, withReason(403, 'PERMISSION_DENIED', 'CONSUMER_SUSPENDED'), headers).kind,
    ).toBe('permission');
    expect(mapGoogleError(403, withReason(403, 'PERMISSION_DENIED', 'BILLING_DISABLED'), headers).kind).toBe(
      'quota_exhausted',
    );
  });

  it('maps by status when there is no reason, and leaves a non-Google body to the HTTP status', () => {
    const location = {
      error: {
        code: 400,
        message: 'User location is not supported for the API use.',
        status: 'FAILED_PRECONDITION',
      },
    };
    expect(mapGoogleError(400, location, headers).kind).toBe('permission');
    expect(mapGoogleError(400, { error: { code: 400, status: 'INVALID_ARGUMENT' } }, headers).kind).toBe(
      'bad_request',
    );
    expect(mapGoogleError(503, { error: { code: 503, status: 'UNAVAILABLE' } }, headers).kind).toBe(
      'overloaded',
    );
    expect(mapGoogleError(502, '<html>Bad Gateway</html>', headers)).toEqual({});
  });
});

describe('googleStreamError', () => {
  it('builds an UpstreamError from an error chunk, with secrets redacted from message and body', () => {
    const error = googleStreamError(
      'google-gemini',
      { error: { code: 500, message: 'failed for test-gemini-secret-123', status: 'INTERNAL' } },
      ['test-gemini-secret-123'],
    );
    expect(error).toMatchObject({ kind: 'server_error', retryable: true, providerCode: 'INTERNAL' });
    expect(error.message).toBe('google-gemini: failed for [REDACTED]');
    expect(error.body).not.toContain('test-gemini-secret-123');
  });
});
