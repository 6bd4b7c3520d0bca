import { z } from 'zod';
import { type HttpContext, requestJson, secretsOf } from '../http.ts';
import type { AdapterOptions, ProviderAdapter, ValidationResult } from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { type Authorization, createOpenAIChatModel } from './openai-chat.ts';
import { mapOpenAIError } from './openai-errors.ts';
import { retiredSoraVideoModel } from './openai-video.ts';

/**
 * The OpenAI adapter. The credential is read for every request; the key travels only in the
 * Authorization header, with the optional organization and project in their own headers.
 */
const modelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ id: z.string() })),
});

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
    // The key is genuine but the account has no credit left: every call with it fails until someone
    // pays, so it is not a working credential. Reporting it invalid, with OpenAI's own words ("You
    // exceeded your current quota..."), tells the user what to fix; "valid" would store a key that
    // cannot make a single call.
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

export function createOpenAIAdapter({ baseURL, fetch, credentials, now }: AdapterOptions): ProviderAdapter {
  const http: HttpContext = {
    provider: 'openai',
    fetch,
    baseURL,
    mapError: mapOpenAIError,
    requestIdHeader: 'x-request-id',
    ...(now ? { now } : {}),
  };

  async function authorize(): Promise<Authorization> {
    const current = await credentials();
    const apiKey = current.apiKey?.reveal();
    if (!apiKey) {
      throw new UpstreamError({
        provider: 'openai',
        kind: 'authentication',
        message: 'the credential has no apiKey',
      });
    }
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
    const organization = current.organization?.reveal();
    if (organization) headers['openai-organization'] = organization;
    const project = current.project?.reveal();
    if (project) headers['openai-project'] = project;
    return { headers, secrets: secretsOf(current) };
  }

  return {
    async validate({ signal } = {}) {
      try {
        const { headers, secrets } = await authorize();
        // The model list is free and needs a working key: the cheapest authenticated call.
        const { data } = await requestJson(http, {
          path: 'models',
          headers,
          secrets,
          ...(signal ? { signal } : {}),
        });
        if (!modelListSchema.safeParse(data).success) {
          return { status: 'unreachable', reason: 'openai: GET /models answered with an unexpected body' };
        }
        return { status: 'valid' };
      } catch (error) {
        return validationFromError(error);
      }
    },
    text: createOpenAIChatModel({ http, authorize }),
    video: retiredSoraVideoModel,
  };
}
