import { z } from 'zod';
import { UpstreamError } from '../upstream-error.ts';

/**
 * The opaque operation start() hands out: `luma:` + base64url(JSON). It carries the generation id and
 * what status() needs to report usage without a store.
 */
const PREFIX = 'luma:';

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

export function encodeLumaOperation(operation: LumaOperation): string {
  return `${PREFIX}${Buffer.from(JSON.stringify(operation)).toString('base64url')}`;
}

export function decodeLumaOperation(operation: string): LumaOperation {
  let parsed: unknown;
  try {
    if (!operation.startsWith(PREFIX)) throw new Error('prefix');
    parsed = JSON.parse(Buffer.from(operation.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = operationSchema.safeParse(parsed);
  if (!result.success) {
    throw new UpstreamError({
      provider: 'luma',
      kind: 'bad_request',
      message: 'operation is not a Luma operation returned by start()',
    });
  }
  return result.data;
}
