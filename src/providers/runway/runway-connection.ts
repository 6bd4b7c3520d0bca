import { type HttpContext, secretsOf } from '../http.ts';
import type { AdapterOptions } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';
import { mapRunwayError } from './runway-errors.ts';
import { RUNWAY_API_VERSION } from './runway-models.ts';

/**
 * How every Runway request is made: the HTTP context and the headers of the current credential, read
 * when each request is made. Runway has no organization header (a key belongs to one organization),
 * so the optional organization field is informational and never sent.
 */
export interface RunwayAuthorization {
  headers: Record<string, string>;
  secrets: string[];
}

export interface RunwayConnection {
  http: HttpContext;
  authorize(): Promise<RunwayAuthorization>;
}

export function createRunwayConnection({
  baseURL,
  fetch,
  credentials,
  now,
}: AdapterOptions): RunwayConnection {
  return {
    http: { provider: 'runway', fetch, baseURL, mapError: mapRunwayError, ...(now ? { now } : {}) },
    async authorize() {
      const current = await credentials();
      const apiKey = current.apiKey?.reveal();
      if (!apiKey) {
        throw new UpstreamError({
          provider: 'runway',
          kind: 'authentication',
          message: 'the credential has no apiKey',
        });
      }
      return {
        headers: {
          authorization: `Bearer ${apiKey}`,
          'x-runway-version': RUNWAY_API_VERSION,
          accept: 'application/json',
        },
        secrets: secretsOf(current),
      };
    },
  };
}
