import { describe, expect, it } from 'vitest';
import { mapVeoOperation } from './map-veo-operation.ts';
import { mapVeoError } from './veo-errors.ts';
import type { VeoOperation } from './veo-operation.ts';

/** Bodies as Google sends them (reference/providers.md sections 3 and 4, user-pasted real responses). */
describe('mapVeoError', () => {
  it('reads the reason before the status: a wrong API key is a 400', () => {
    const body = {
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
          {
            '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
            locale: 'en-US',
            message: 'API key not valid. Please pass a valid API key.',
          },
        ],
      },
    };
    expect(mapVeoError(400, body)).toEqual({
      kind: 'authentication',
      message: 'API key not valid. Please pass a valid API key.',
      providerCode: 'API_KEY_INVALID',
    });
  });

  it('maps a suspended consumer and a disabled service to permission', () => {
    for (const reason of ['CONSUMER_SUSPENDED', 'SERVICE_DISABLED']) {
      const body = {
        error: {
          code: 403,
          message: 'Permission denied',
          status: 'PERMISSION_DENIED',
          details: [{ reason }],
        },
      };
      expect(mapVeoError(403, body)).toMatchObject({ kind: 'permission', providerCode: reason });
    }
  });

  it("parses Gemini's 429 retryDelay, and tells a per-day quota from a per-minute limit", () => {
    const perMinute = {
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
    expect(mapVeoError(429, perMinute)).toEqual({
      kind: 'rate_limited',
      message: 'You exceeded your current quota, please check your plan and billing details.',
      providerCode: 'RESOURCE_EXHAUSTED',
      retryAfterMs: 37_200,
    });
    const perDay = JSON.parse(JSON.stringify(perMinute).replace('PerMinute', 'PerDay'));
    expect(mapVeoError(429, perDay).kind).toBe('quota_exhausted');
  });

  it("maps Vertex's bodies without details by their status", () => {
    const vertex = (code: number, status: string) => ({ error: { code, message: 'm', status } });
    expect(mapVeoError(403, vertex(403, 'PERMISSION_DENIED')).kind).toBe('permission');
    expect(mapVeoError(429, vertex(429, 'RESOURCE_EXHAUSTED')).kind).toBe('rate_limited');
    expect(mapVeoError(401, vertex(401, 'UNAUTHENTICATED')).kind).toBe('authentication');
    expect(mapVeoError(500, vertex(500, 'INTERNAL')).kind).toBe('server_error');
    expect(mapVeoError(503, vertex(503, 'UNAVAILABLE')).kind).toBe('overloaded');
    expect(mapVeoError(404, vertex(404, 'NOT_FOUND')).kind).toBe('not_found');
    // One Google mapper for Gemini and Veo: FAILED_PRECONDITION is about the account or project (location
    // not supported, billing not enabled), which only its owner can fix, so permission, not bad_request.
    expect(mapVeoError(400, vertex(400, 'FAILED_PRECONDITION')).kind).toBe('permission');
  });

  it("maps the token endpoint's OAuth errors", () => {
    expect(mapVeoError(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' })).toEqual(
      {
        kind: 'authentication',
        providerCode: 'invalid_grant',
        message: 'invalid_grant: Invalid JWT Signature.',
      },
    );
    expect(mapVeoError(400, { error: 'invalid_scope' }).kind).toBe('permission');
    expect(mapVeoError(400, { error: 'unsupported_grant_type' }).kind).toBe('bad_request');
  });

  it('leaves a body it does not know to the HTTP status', () => {
    expect(mapVeoError(502, '<html>Error 502 (Server Error)!!1</html>')).toEqual({});
    expect(mapVeoError(500, { message: 'no envelope' })).toEqual({});
  });
});

describe('mapVeoOperation', () => {
  const gemini: VeoOperation = {
    api: 'gemini',
    name: 'models/veo-3.1-generate-preview/operations/abc123',
    model: 'veo-3.1-generate-preview',
    durationSeconds: 8,
    resolution: '720p',
  };

  it('bills every generated sample and never passes a key on in a URL', () => {
    const status = mapVeoOperation(
      {
        name: gemini.name,
        done: true,
        response: {
          generateVideoResponse: {
            generatedSamples: [
              {
                video: {
                  uri: 'https://generativelanguage.googleapis.com/v1beta/files/a:download?alt=media&key=AIza',
                },
              },
              {
                video: { uri: 'https://generativelanguage.googleapis.com/v1beta/files/b:download?alt=media' },
              },
            ],
          },
        },
      },
      gemini,
    );
    expect(status).toMatchObject({
      state: 'succeeded',
      outputs: [
        { url: 'https://generativelanguage.googleapis.com/v1beta/files/a:download?alt=media' },
        { url: 'https://generativelanguage.googleapis.com/v1beta/files/b:download?alt=media' },
      ],
      usage: { videoSeconds: 16 },
    });
  });

  it('says an operation that is done without a video and without a filter verdict failed', () => {
    expect(mapVeoOperation({ name: gemini.name, done: true, response: {} }, gemini)).toMatchObject({
      state: 'failed',
      code: 'no_output',
    });
  });

  it('turns a body of the wrong shape into invalid_response', () => {
    expect(() => mapVeoOperation({ done: 'yes' }, gemini)).toThrow(
      expect.objectContaining({ kind: 'invalid_response' }),
    );
    expect(() =>
      mapVeoOperation({ done: true, response: { videos: 'x' } }, { ...gemini, api: 'vertex' }),
    ).toThrow(expect.objectContaining({ kind: 'invalid_response' }));
  });

  it('names rpc codes and retries only transient ones', () => {
    const failed = (code: number) => mapVeoOperation({ done: true, error: { code, message: 'm' } }, gemini);
    expect(failed(3)).toMatchObject({ code: 'INVALID_ARGUMENT', retryable: false });
    expect(failed(14)).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(failed(99)).toMatchObject({ code: 'CODE_99', retryable: false });
  });
});
