import { type HttpContext, secretsOf } from '../http.ts';
import type { AdapterOptions } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';
import { mapStabilityError } from './stability-errors.ts';

/**
 * How every Stability request is made: the HTTP context and the headers of the current credential,
 * read when each request is made. The optional organization travels in Stability's `Organization`
 * header, which bills the call to that organization instead of the key owner's default one.
 */
export interface StabilityAuthorization {
  headers: Record<string, string>;
  secrets: string[];
}

export interface StabilityConnection {
  http: HttpContext;
  authorize(): Promise<StabilityAuthorization>;
}

export function createStabilityConnection({
  baseURL,
  fetch,
  credentials,
  now,
}: AdapterOptions): StabilityConnection {
  return {
    http: { provider: 'stability', fetch, baseURL, mapError: mapStabilityError, ...(now ? { now } : {}) },
    async authorize() {
      const current = await credentials();
      const apiKey = current.apiKey?.reveal();
      if (!apiKey) {
        throw new UpstreamError({
          provider: 'stability',
          kind: 'authentication',
          message: 'the credential has no apiKey',
        });
      }
      const headers: Record<string, string> = {
        authorization: `Bearer ${apiKey}`,
        accept: 'application/json',
      };
      const organization = current.organization?.reveal();
      if (organization) headers.organization = organization;
      return { headers, secrets: secretsOf(current) };
    },
  };
}
