import { z } from 'zod';
import { type HttpContext, requestJson, secretsOf } from '../http.ts';
import type { AdapterOptions, ProviderAdapter, ValidationResult } from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { GOOGLE_GEMINI_PROVIDER, mapGoogleError } from './google-gemini-errors.ts';
import { createGeminiGenerateContent } from './google-gemini-generate-content.ts';

const modelsPage = z.looseObject({ models: z.array(z.looseObject({ name: z.string() })).optional() });

/** A provider error as a validation result: only a refused credential makes it invalid. */
function validationResultOf(error: UpstreamError): ValidationResult {
  switch (error.kind) {
    case 'authentication':
    case 'permission':
    // Billing disabled or the daily quota spent: the key is real but cannot serve calls now.
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

export function createGoogleGeminiAdapter({
  baseURL,
  fetch,
  credentials,
  now,
}: AdapterOptions): ProviderAdapter {
  const http: HttpContext = {
    provider: GOOGLE_GEMINI_PROVIDER,
    baseURL,
    fetch,
    mapError: mapGoogleError,
    ...(now ? { now } : {}),
  };

  /** The key travels in `x-goog-api-key`, never as `?key=`: URLs end up in logs, proxies and traces. */
  async function authorise() {
    const current = await credentials();
    const apiKey = current.apiKey?.reveal();
    if (!apiKey) {
      throw new UpstreamError({
        provider: GOOGLE_GEMINI_PROVIDER,
        kind: 'authentication',
        message: 'the credential has no apiKey',
      });
    }
    return { headers: { 'x-goog-api-key': apiKey }, secrets: secretsOf(current) };
  }

  return {
    /** `GET /v1beta/models?pageSize=1`: authenticated, free, and one model long. */
    async validate({ signal } = {}) {
      try {
        const { headers, secrets } = await authorise();
        const { data, response } = await requestJson(http, {
          path: '/v1beta/models?pageSize=1',
          headers,
          secrets,
          ...(signal ? { signal } : {}),
        });
        if (!modelsPage.safeParse(data).success) {
          return {
            status: 'unreachable',
            reason: `${GOOGLE_GEMINI_PROVIDER}: the models list (HTTP ${response.status}) has an unexpected shape`,
          };
        }
        return { status: 'valid' };
      } catch (error) {
        if (isUpstreamError(error) && !signal?.aborted) return validationResultOf(error);
        throw error;
      }
    },
    text: createGeminiGenerateContent({ http, authorise }),
  };
}
