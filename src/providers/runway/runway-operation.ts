import { z } from 'zod';
import { operationCodec } from '../opaque-operation.ts';

/**
 * The opaque operation start() hands out (see operationCodec): the task id and what status() needs to
 * report usage, since Runway's task object has no duration.
 */
const operationSchema = z.strictObject({
  taskId: z.string().min(1).max(200),
  model: z.string().min(1).max(100),
  durationSeconds: z.number().positive(),
  resolution: z.string().min(1).max(20),
});

export type RunwayOperation = z.infer<typeof operationSchema>;

const codec = operationCodec('runway', 'Runway', operationSchema);
export const encodeRunwayOperation = codec.encode;
export const decodeRunwayOperation = codec.decode;
