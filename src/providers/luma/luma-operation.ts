import { z } from 'zod';
import { operationCodec } from '../opaque-operation.ts';

/** The opaque operation start() hands out (see operationCodec): the generation id and what status() needs. */
const operationSchema = z.strictObject({
  // Luma's ids are UUIDs; nothing else goes into the URL path.
  id: z.string().regex(/^[A-Za-z0-9-]{1,100}$/),
  model: z.string().min(1).max(100),
  durationSeconds: z.number().positive(),
  resolution: z.string().min(1).max(20),
});

export type LumaOperation = z.infer<typeof operationSchema>;

export function isLumaGenerationId(id: string): boolean {
  return operationSchema.shape.id.safeParse(id).success;
}

const codec = operationCodec('luma', 'Luma', operationSchema);
export const encodeLumaOperation = codec.encode;
export const decodeLumaOperation = codec.decode;
