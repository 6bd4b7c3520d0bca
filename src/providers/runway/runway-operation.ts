import { z } from 'zod';
import { UpstreamError } from '../upstream-error.ts';

/**
 * The opaque operation start() hands out: `runway:` + base64url(JSON). It carries the task id and what
 * status() needs to report usage (Runway's task object has no duration), so status() needs no store.
 */
const PREFIX = 'runway:';

const operationSchema = z.strictObject({
  taskId: z.string().min(1).max(200),
  model: z.string().min(1).max(100),
  durationSeconds: z.number().positive(),
  resolution: z.string().min(1).max(20),
});

export type RunwayOperation = z.infer<typeof operationSchema>;

export function encodeRunwayOperation(operation: RunwayOperation): string {
  return `${PREFIX}${Buffer.from(JSON.stringify(operation)).toString('base64url')}`;
}

export function decodeRunwayOperation(operation: string): RunwayOperation {
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
      provider: 'runway',
      kind: 'bad_request',
      message: 'operation is not a Runway operation returned by start()',
    });
  }
  return result.data;
}
