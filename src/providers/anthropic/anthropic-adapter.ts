import { z } from 'zod';
import { type HttpContext, requestJson, secretsOf } from '../http.ts';
import type { AdapterOptions, ProviderAdapter, ValidationResult } from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { ANTHROPIC_PROVIDER, mapAnthropicError } from './anthropic-errors.ts';
import { createAnthropicMessages } from './anthropic-messages.ts';

/** The version header every official SDK sends; it pins the wire format this adapter parses. */
export const ANTHROPIC_VERSION = '2023-06-01';

const modelsPage = z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) });

/** A provider error as a validation result: only a refused credential makes it invalid. */
function validationResultOf(error: UpstreamError): ValidationResult {
  switch (error.kind) {
    case 'authentication':
    case 'permission':
    // A key out of credit is genuine but unusable until billing is fixed; storing it would only fail later.
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

export function createAnthropicAdapter({
  baseURL,
  fetch,
  credentials,
  now,
}: AdapterOptions): ProviderAdapter {
  const http: HttpContext = {
    provider: ANTHROPIC_PROVIDER,
    baseURL,
    fetch,
    mapError: mapAnthropicError,
    requestIdHeader: 'request-id',
    ...(now ? { now } : {}),
  };

  async function authorise() {
    const current = await credentials();
    const apiKey = current.apiKey?.reveal();
    if (!apiKey) {
      throw new UpstreamError({
        provider: ANTHROPIC_PROVIDER,
        kind: 'authentication',
        message: 'the credential has no apiKey',
      });
    }
    return {
      headers: { 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION },
      secrets: secretsOf(current),
    };
  }

  return {
    /** `GET /v1/models?limit=1`: authenticated, free, and one model long. */
    async validate({ signal } = {}) {
      try {
        const { headers, secrets } = await authorise();
        const { data, response } = await requestJson(http, {
          path: '/v1/models?limit=1',
          headers,
          secrets,
          ...(signal ? { signal } : {}),
        });
        if (!modelsPage.safeParse(data).success) {
          return {
            status: 'unreachable',
            reason: `${ANTHROPIC_PROVIDER}: the models list (HTTP ${response.status}) has an unexpected shape`,
          };
        }
        return { status: 'valid' };
      } catch (error) {
        if (isUpstreamError(error) && !signal?.aborted) return validationResultOf(error);
        throw error;
      }
    },
    text: createAnthropicMessages({ http, authorise }),
  };
}
