import { z } from 'zod';
import { validateByGet } from '../adapter-support.ts';
import type { AdapterOptions, ProviderAdapter } from '../spec.ts';
import { createStabilityConnection } from './stability-connection.ts';
import { createStabilityImageModel } from './stability-image-model.ts';
import { retiredStabilityVideoModel } from './stability-video-model.ts';

/**
 * The Stability adapter: validation with `GET /v1/user/balance` (free, needs a working key), image
 * generation, and a video model that only says the API was retired.
 */
const balanceSchema = z.object({ credits: z.number() });

export function createStabilityAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = createStabilityConnection(options);
  return {
    validate: validateByGet(connection, '/v1/user/balance', balanceSchema),
    image: createStabilityImageModel(connection),
    video: retiredStabilityVideoModel,
  };
}
