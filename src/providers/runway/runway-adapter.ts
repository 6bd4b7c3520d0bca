import { z } from 'zod';
import { validateByGet } from '../adapter-support.ts';
import type { AdapterOptions, ProviderAdapter } from '../spec.ts';
import { createRunwayConnection } from './runway-connection.ts';
import { createRunwayVideoModel } from './runway-video-model.ts';

/**
 * The Runway adapter: validation with `GET /v1/organization` (free, needs a working key) and video.
 */
const organizationSchema = z.object({ creditBalance: z.number() });

export function createRunwayAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = createRunwayConnection(options);
  return {
    validate: validateByGet(connection, '/v1/organization', organizationSchema),
    video: createRunwayVideoModel(connection),
  };
}
