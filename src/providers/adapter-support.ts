import type { z } from 'zod';
import { type ErrorMapper, type HttpContext, requestJson, secretsOf } from './http.ts';
import type { AdapterOptions, Credentials, ProviderAdapter, ValidationResult, VideoModel } from './spec.ts';
import { isUpstreamError, UpstreamError } from './upstream-error.ts';

/**
 * What every adapter does the same way: read an API key per request, and turn what a validation call
 * threw into a verdict on the credential. One rule for all providers, so the vault's answer to "is this
 * key good?" does not depend on which engineer wrote the adapter.
 */

/** The headers that carry the current credential, and the strings to redact from whatever comes back. */
export interface Authorization {
  headers: Record<string, string>;
  secrets: string[];
}

/** How an adapter makes requests: one HTTP context, and the credential read again for each request. */
export interface Connection {
  http: HttpContext;
  /** Reads the credential now (never cached) and returns the headers that carry it. */
  authorize(): Promise<Authorization>;
}

export interface ApiKeyConnectionSettings {
  provider: string;
  mapError: ErrorMapper;
  requestIdHeader?: string;
  /** The headers that carry the key, and any other field of the credential the provider wants. */
  headers(apiKey: string, credential: Credentials): Record<string, string>;
}

/** A connection for a credential whose `apiKey` is the secret; a credential without one is refused unsent. */
export function apiKeyConnection(
  { baseURL, fetch, credentials, now }: AdapterOptions,
  { provider, mapError, requestIdHeader, headers }: ApiKeyConnectionSettings,
): Connection {
  return {
    http: {
      provider,
      fetch,
      baseURL,
      mapError,
      ...(requestIdHeader ? { requestIdHeader } : {}),
      ...(now ? { now } : {}),
    },
    async authorize() {
      const current = await credentials();
      const apiKey = current.apiKey?.reveal().trim();
      if (!apiKey) {
        throw new UpstreamError({
          provider,
          kind: 'authentication',
          message: 'the credential has no apiKey',
        });
      }
      return { headers: headers(apiKey, current), secrets: secretsOf(current) };
    },
  };
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'TimeoutError';
}

/**
 * What validate() reports for an error. Only a refused credential, or one that cannot make a single
 * call until someone pays (quota_exhausted, with the provider's words saying what to fix), is invalid:
 * storing it would only fail later. Everything else (overloaded, server errors, no connection) says
 * nothing about the key, so it is unreachable with the reason. The caller's own deadline
 * (AbortSignal.timeout) is the provider not answering in time; any other abort is the caller
 * cancelling, and a non-provider error is a bug: neither is a verdict, so both are rethrown.
 */
export function validationResult(error: unknown, signal?: AbortSignal): ValidationResult {
  if (isTimeout(error) || (signal?.aborted && isTimeout(signal.reason))) {
    return { status: 'unreachable', reason: 'the provider did not answer in time' };
  }
  if (signal?.aborted || !isUpstreamError(error)) throw error;
  switch (error.kind) {
    case 'authentication':
    case 'permission':
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

/** Runs a validation check; whatever it throws becomes the verdict of validationResult(). */
export async function validateWith(
  signal: AbortSignal | undefined,
  check: () => Promise<ValidationResult>,
): Promise<ValidationResult> {
  try {
    return await check();
  } catch (error) {
    return validationResult(error, signal);
  }
}

/**
 * validate() as one cheap authenticated GET (a model list, a balance): free, and it needs a working
 * key. An answer that does not match the schema is not the provider we expect, so not a verdict.
 */
export function validateByGet(
  connection: Connection,
  path: string,
  schema: z.ZodType,
): ProviderAdapter['validate'] {
  return ({ signal } = {}) =>
    validateWith(signal, async () => {
      const { headers, secrets } = await connection.authorize();
      const { data } = await requestJson(connection.http, {
        path,
        headers,
        secrets,
        ...(signal ? { signal } : {}),
      });
      if (schema.safeParse(data).success) return { status: 'valid' };
      return {
        status: 'unreachable',
        reason: `${connection.http.provider}: GET /${path.replace(/^\/+/, '')} answered with an unexpected body`,
      };
    });
}

/**
 * A video model the provider has shut down: every call fails with `capability_retired` and the date,
 * before any network call and without reading the credential, so a caller learns why instead of
 * reading a provider 404.
 */
export function retiredVideoModel(provider: string, message: string): VideoModel {
  const retired = () => new UpstreamError({ provider, kind: 'capability_retired', message });
  return {
    start: async () => {
      throw retired();
    },
    status: async () => {
      throw retired();
    },
    cancel: async () => {
      throw retired();
    },
  };
}
