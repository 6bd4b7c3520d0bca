import { z } from 'zod';

/**
 * Fault injection: what a simulated provider does wrong, for every request of a provider or only
 * those made with one key. A fault with `count` applies to that many matching requests, then expires.
 */
export const faultSchema = z.strictObject({
  provider: z.string().min(1),
  key: z.string().min(1).optional(),
  /** Added before the response starts. */
  latencyMs: z.number().int().min(0).max(120_000).optional(),
  /** Answer with this error status, in the provider's own error format. */
  status: z
    .union([
      z.literal(400),
      z.literal(401),
      z.literal(402),
      z.literal(403),
      z.literal(404),
      z.literal(429),
      z.literal(500),
      z.literal(502),
      z.literal(503),
      z.literal(504),
      z.literal(529),
    ])
    .optional(),
  /** With status 429 (or 503): the wait announced in the provider's headers or body. */
  retryAfterSeconds: z.number().min(0).max(3600).optional(),
  /** 429 meaning the account's quota or credit is exhausted (not retryable), not a rate limit. */
  quotaExhausted: z.boolean().optional(),
  /** Streams: send this many chunks, then an error event in the provider's stream format. */
  midStreamErrorAfterChunks: z.number().int().min(0).optional(),
  /** Streams: wait this long between chunks. */
  chunkDelayMs: z.number().int().min(0).max(60_000).optional(),
  /** Accept the connection and never answer (until the client gives up). */
  stall: z.boolean().optional(),
  /** Video jobs started while this fault holds end in failure. */
  jobFailure: z.boolean().optional(),
  count: z.number().int().min(1).optional(),
});

export type Fault = z.infer<typeof faultSchema>;

export interface FaultStore {
  add(fault: Fault): void;
  /** The faults that apply to one request, consuming one use of each counted fault. */
  take(provider: string, key: string | undefined): Fault;
  clear(provider?: string): void;
  list(): Fault[];
}

export function createFaultStore(): FaultStore {
  let faults: (Fault & { remaining?: number })[] = [];
  return {
    add(fault) {
      faults.push({ ...fault, ...(fault.count === undefined ? {} : { remaining: fault.count }) });
    },
    take(provider, key) {
      const merged: Fault = { provider };
      for (const fault of faults) {
        if (fault.provider !== provider && fault.provider !== '*') continue;
        if (fault.key !== undefined && fault.key !== key) continue;
        if (fault.remaining !== undefined) {
          if (fault.remaining <= 0) continue;
          fault.remaining -= 1;
        }
        const { remaining: _remaining, count: _count, provider: _provider, key: _key, ...effects } = fault;
        Object.assign(merged, effects);
      }
      faults = faults.filter((fault) => fault.remaining === undefined || fault.remaining > 0);
      return merged;
    },
    clear(provider) {
      faults = provider ? faults.filter((fault) => fault.provider !== provider) : [];
    },
    list: () => faults.map(({ remaining: _remaining, ...fault }) => fault),
  };
}
