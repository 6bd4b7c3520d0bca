import type { z } from 'zod';
import { UpstreamError } from './upstream-error.ts';

/**
 * The opaque operation a video start() hands out: `<provider>:` + base64url(JSON). It carries the
 * provider's job id and what status() needs to report usage, so status() needs no store. The schema
 * checks whatever comes back before any of it goes into a URL path.
 */
export interface OperationCodec<T> {
  encode(operation: T): string;
  /** Throws a bad_request UpstreamError for anything start() did not hand out. */
  decode(operation: string): T;
}

/** `label` names the provider in the error a caller sees (`operation is not a Luma operation ...`). */
export function operationCodec<Schema extends z.ZodType>(
  provider: string,
  label: string,
  schema: Schema,
): OperationCodec<z.infer<Schema>> {
  const prefix = `${provider}:`;
  return {
    encode: (operation) => `${prefix}${Buffer.from(JSON.stringify(operation)).toString('base64url')}`,
    decode(operation) {
      let parsed: unknown;
      try {
        if (!operation.startsWith(prefix)) throw new Error('prefix');
        parsed = JSON.parse(Buffer.from(operation.slice(prefix.length), 'base64url').toString('utf8'));
      } catch {
        parsed = undefined;
      }
      const result = schema.safeParse(parsed);
      if (!result.success) {
        throw new UpstreamError({
          provider,
          kind: 'bad_request',
          message: `operation is not a ${label} operation returned by start()`,
        });
      }
      return result.data;
    },
  };
}
