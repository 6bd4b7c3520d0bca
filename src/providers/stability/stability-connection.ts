import { apiKeyConnection, type Connection } from '../adapter-support.ts';
import type { AdapterOptions } from '../spec.ts';
import { mapStabilityError } from './stability-errors.ts';

/**
 * How every Stability request is made. The optional organization travels in Stability's
 * `Organization` header, which bills the call to that organization instead of the key owner's default.
 */
export function createStabilityConnection(options: AdapterOptions): Connection {
  return apiKeyConnection(options, {
    provider: 'stability',
    mapError: mapStabilityError,
    headers(apiKey, credential) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${apiKey}`,
        accept: 'application/json',
      };
      const organization = credential.organization?.reveal();
      if (organization) headers.organization = organization;
      return headers;
    },
  });
}
