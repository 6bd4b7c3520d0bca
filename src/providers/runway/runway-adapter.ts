import { z } from 'zod';
import { requestJson } from '../http.ts';
import type { AdapterOptions, ProviderAdapter, ValidationResult } from '../spec.ts';
import { isUpstreamError } from '../upstream-error.ts';
import { createRunwayConnection } from './runway-connection.ts';
import { createRunwayVideoModel } from './runway-video-model.ts';

/**
 * The Runway adapter: validation with `GET /v1/organization` (free, needs a working key) and video.
 */
const organizationSchema = z.object({ creditBalance: z.number() });

export function runwayValidationFromError(error: unknown): ValidationResult {
  if (!isUpstreamError(error)) throw error;
  switch (error.kind) {
    case 'authentication':
    case 'permission':
      return { status: 'invalid', reason: error.message };
    case 'rate_limited':
      return error.retryAfterMs === undefined
        ? { status: 'rate_limited' }
        : { status: 'rate_limited', retryAfterMs: error.retryAfterMs };
    default:
      return { status: 'unreachable', reason: error.message };
  }
}

export function createRunwayAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = createRunwayConnection(options);
  return {
    async validate({ signal } = {}) {
      try {
        const { headers, secrets } = await connection.authorize();
        const { data } = await requestJson(connection.http, {
          path: '/v1/organization',
          headers,
          secrets,
          ...(signal ? { signal } : {}),
        });
        if (!organizationSchema.safeParse(data).success) {
          return {
            status: 'unreachable',
            reason: 'runway: GET /v1/organization answered with an unexpected body',
          };
        }
        return { status: 'valid' };
      } catch (error) {
        return runwayValidationFromError(error);
      }
    },
    video: createRunwayVideoModel(connection),
  };
}
