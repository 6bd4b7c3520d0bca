import type { Redis } from 'ioredis';
import type pg from 'pg';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { RateLimits } from '../providers/spec.ts';

/**
 * Per-user, per-provider request limits (per minute and per hour), on rate-limiter-flexible: in memory
 * for one process, or in Redis or PostgreSQL so that every instance counts against the same limit.
 * A request refused by the hour limit gives back the minute point it took, so refusals do not eat the
 * budget of the next minute.
 */
export type RateLimitStore =
  | { kind: 'memory' }
  | { kind: 'redis'; client: Redis }
  | { kind: 'postgres'; pool: pg.Pool; schema?: string };

export type RateLimitDecision =
  | { allowed: true; remaining: number }
  | { allowed: false; retryAfterMs: number; window: 'minute' | 'hour'; limit: number };

export interface RateLimiterOptions {
  store?: RateLimitStore;
  /** The limits of a provider: its declared defaults, or a deployment's override. */
  limitsFor: (provider: string) => RateLimits;
  keyPrefix?: string;
}

export interface ProviderRateLimiter {
  consume(userId: string, provider: string): Promise<RateLimitDecision>;
}

const WINDOWS = [
  { window: 'minute', field: 'perMinute', seconds: 60 },
  { window: 'hour', field: 'perHour', seconds: 3600 },
] as const;

const TABLE = 'keyhaven_rate_limits';

export function createRateLimiter({
  store = { kind: 'memory' },
  limitsFor,
  keyPrefix = 'kh',
}: RateLimiterOptions): ProviderRateLimiter {
  const limiters = new Map<string, Promise<RateLimiterAbstract>>();
  // The library creates its PostgreSQL table itself; the first limiter does it, the others wait for it.
  let tableReady: Promise<void> | undefined;

  function build(prefix: string, points: number, duration: number): Promise<RateLimiterAbstract> {
    const options = { keyPrefix: prefix, points, duration };
    if (store.kind === 'memory') return Promise.resolve(new RateLimiterMemory(options));
    if (store.kind === 'redis')
      return Promise.resolve(new RateLimiterRedis({ ...options, storeClient: store.client }));
    const postgres = {
      ...options,
      storeClient: store.pool,
      storeType: 'pool',
      tableName: TABLE,
      schemaName: store.schema ?? 'public',
    };
    if (!tableReady) {
      let limiter: RateLimiterAbstract | undefined;
      tableReady = new Promise<void>((resolve, reject) => {
        limiter = new RateLimiterPostgres(postgres, (error?: Error) => (error ? reject(error) : resolve()));
      });
      return tableReady.then(() => {
        if (!limiter) throw new Error('rate limiter was not created');
        return limiter;
      });
    }
    return tableReady.then(() => new RateLimiterPostgres({ ...postgres, tableCreated: true }));
  }

  function limiter(provider: string, window: (typeof WINDOWS)[number], points: number) {
    const prefix = `${keyPrefix}:${provider}:${window.window}:${points}`;
    let found = limiters.get(prefix);
    if (!found) {
      found = build(prefix, points, window.seconds);
      found.catch(() => limiters.delete(prefix));
      limiters.set(prefix, found);
    }
    return found;
  }

  return {
    async consume(userId, provider) {
      const limits = limitsFor(provider);
      const key = userId;
      const taken: RateLimiterAbstract[] = [];
      let remaining = Number.POSITIVE_INFINITY;
      for (const window of WINDOWS) {
        const points = limits[window.field];
        if (points === undefined) continue;
        const current = await limiter(provider, window, points);
        try {
          const result = await current.consume(key);
          remaining = Math.min(remaining, result.remainingPoints);
          taken.push(current);
        } catch (rejection) {
          if (!(rejection instanceof RateLimiterRes)) throw rejection;
          for (const earlier of taken) await earlier.reward(key, 1);
          return {
            allowed: false,
            retryAfterMs: Math.max(1, rejection.msBeforeNext),
            window: window.window,
            limit: points,
          };
        }
      }
      return { allowed: true, remaining: Number.isFinite(remaining) ? remaining : Number.MAX_SAFE_INTEGER };
    },
  };
}
