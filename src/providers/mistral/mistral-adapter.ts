import { z } from 'zod';
import { type HttpContext, requestJson, secretsOf } from '../http.ts';
import type { AdapterOptions, ProviderAdapter, ValidationResult } from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { type Authorization, createMistralChatModel } from './mistral-chat.ts';
import { mapMistralError } from './mistral-errors.ts';

/**
 * The Mistral adapter. The base URL is the API origin (`https://api.mistral.ai`), as the official SDK's
 * serverURL, so paths carry their `/v1`. The key is read for every request and travels only in the
 * Authorization header.
 */
const modelListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

function validationFromError(error: unknown): ValidationResult {
  // The caller's own deadline (AbortSignal.timeout) passed: the provider did not answer in time.
  if (error instanceof Error && error.name === 'TimeoutError') {
    return { status: 'unreachable', reason: 'the provider did not answer in time' };
  }
  // Anything else that is not an upstream error is the caller cancelling, or a bug: not a verdict.
  if (!isUpstreamError(error)) throw error;
  switch (error.kind) {
    case 'authentication':
    case 'permission':
      return { status: 'invalid', reason: error.message };
    // 402: the key is genuine but the organization has no credit or hit its spending limit. No call
    // can succeed until someone pays, so it is not a working credential; the reason says what to fix.
    case 'quota_exhausted':
      return { status: 'invalid', reason: error.message };
    case 'rate_limited':
      return error.retryAfterMs === undefined
        ? { status: 'rate_limited' }
        : { status: 'rate_limited', retryAfterMs: error.retryAfterMs };
    default:
      return { status: 'unreachable', reason: error.message };
  }
}

export function createMistralAdapter({ baseURL, fetch, credentials, now }: AdapterOptions): ProviderAdapter {
  const http: HttpContext = {
    provider: 'mistral',
    fetch,
    baseURL,
    mapError: mapMistralError,
    requestIdHeader: 'mistral-correlation-id',
    ...(now ? { now } : {}),
  };

  async function authorize(): Promise<Authorization> {
    const current = await credentials();
    const apiKey = current.apiKey?.reveal();
    if (!apiKey) {
      throw new UpstreamError({
        provider: 'mistral',
        kind: 'authentication',
        message: 'the credential has no apiKey',
      });
    }
    return { headers: { authorization: `Bearer ${apiKey}` }, secrets: secretsOf(current) };
  }

  return {
    async validate({ signal } = {}) {
      try {
        const { headers, secrets } = await authorize();
        // Listing models is free and needs a working key: the cheapest authenticated call.
        const { data } = await requestJson(http, {
          path: 'v1/models',
          headers,
          secrets,
          ...(signal ? { signal } : {}),
        });
        if (!modelListSchema.safeParse(data).success) {
          return {
            status: 'unreachable',
            reason: 'mistral: GET /v1/models answered with an unexpected body',
          };
        }
        return { status: 'valid' };
      } catch (error) {
        return validationFromError(error);
      }
    },
    text: createMistralChatModel({ http, authorize }),
  };
}
