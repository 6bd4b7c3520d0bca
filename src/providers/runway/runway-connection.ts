import { apiKeyConnection, type Connection } from '../adapter-support.ts';
import type { AdapterOptions } from '../spec.ts';
import { mapRunwayError } from './runway-errors.ts';
import { RUNWAY_API_VERSION } from './runway-models.ts';

/**
 * How every Runway request is made. Runway has no organization header (a key belongs to one
 * organization), so the optional organization field is informational and never sent.
 */
export function createRunwayConnection(options: AdapterOptions): Connection {
  return apiKeyConnection(options, {
    provider: 'runway',
    mapError: mapRunwayError,
    headers: (apiKey) => ({
      authorization: `Bearer ${apiKey}`,
      'x-runway-version': RUNWAY_API_VERSION,
      accept: 'application/json',
    }),
  });
}
