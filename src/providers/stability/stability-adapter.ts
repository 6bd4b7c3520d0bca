import { z } from 'zod';
import { requestJson } from '../http.ts';
import type { AdapterOptions, ProviderAdapter, ValidationResult } from '../spec.ts';
import { isUpstreamError } from '../upstream-error.ts';
import { createStabilityConnection } from './stability-connection.ts';
import { createStabilityImageModel } from './stability-image-model.ts';
import { retiredStabilityVideoModel } from './stability-video-model.ts';

/**
 * The Stability adapter: validation with `GET /v1/user/balance` (free, needs a working key), image
 * generation, and a video model that only says the API was retired.
 */
const balanceSchema = z.object({ credits: z.number() });

export function stabilityValidationFromError(error: unknown): ValidationResult {
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

export function createStabilityAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = createStabilityConnection(options);
  return {
    async validate({ signal } = {}) {
      try {
        const { headers, secrets } = await connection.authorize();
        const { data } = await requestJson(connection.http, {
          path: '/v1/user/balance',
          headers,
          secrets,
          ...(signal ? { signal } : {}),
        });
        if (!balanceSchema.safeParse(data).success) {
          return {
            status: 'unreachable',
            reason: 'stability: GET /v1/user/balance answered with an unexpected body',
          };
        }
        return { status: 'valid' };
      } catch (error) {
        return stabilityValidationFromError(error);
      }
    },
    image: createStabilityImageModel(connection),
    video: retiredStabilityVideoModel,
  };
}
