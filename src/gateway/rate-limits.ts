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
 * A refused request gives back the points the other window took, so refusals by the hour limit do not
 * eat the budget of the next minute.
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

/** A window of a provider's limits, with the key prefix of its counters. */
interface Window {
  window: (typeof WINDOWS)[number]['window'];
  seconds: number;
  points: number;
  prefix: string;
}

const TABLE = 'keyhaven_rate_limits';
// duplicate_object (the table's row type), duplicate_table, unique_violation (in pg_type).
const CONCURRENT_CREATE = new Set(['42710', '42P07', '23505']);

export function createRateLimiter({
  store = { kind: 'memory' },
  limitsFor,
  keyPrefix = 'kh',
}: RateLimiterOptions): ProviderRateLimiter {
  // By prefix: the limiter while it is being built, then the limiter itself (taken without a promise).
  const limiters = new Map<string, RateLimiterAbstract | Promise<RateLimiterAbstract>>();
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
        limiter = new RateLimiterPostgres(postgres, (error?: Error) => {
          if (!error) return resolve();
          // Instances starting together all create the table: PostgreSQL can refuse all but one
          // CREATE TABLE IF NOT EXISTS ('type ... already exists'). The table is there all the same.
          if (!CONCURRENT_CREATE.has(String((error as { code?: unknown }).code))) return reject(error);
          limiter = new RateLimiterPostgres({ ...postgres, tableCreated: true });
          resolve();
        });
      });
      return tableReady.then(() => {
        if (!limiter) throw new Error('rate limiter was not created');
        return limiter;
      });
    }
    return tableReady.then(() => new RateLimiterPostgres({ ...postgres, tableCreated: true }));
  }

  // A provider's windows, worked out on its first call: limits come from the configuration and the
  // providers' declarations, both fixed while the process runs.
  const windowsByProvider = new Map<string, Window[]>();
  function windowsOf(provider: string): Window[] {
    let found = windowsByProvider.get(provider);
    if (!found) {
      const limits = limitsFor(provider);
      found = WINDOWS.flatMap(({ window, field, seconds }) => {
        const points = limits[field];
        return points === undefined
          ? []
          : [{ window, seconds, points, prefix: `${keyPrefix}:${provider}:${window}:${points}` }];
      });
      windowsByProvider.set(provider, found);
    }
    return found;
  }

  function limiter(window: Window) {
    let found = limiters.get(window.prefix);
    if (!found) {
      const building = build(window.prefix, window.points, window.seconds);
      building.then(
        (made) => limiters.set(window.prefix, made),
        () => limiters.delete(window.prefix),
      );
      limiters.set(window.prefix, building);
      found = building;
    }
    return found;
  }

  function consumeIn(window: Window, userId: string) {
    const found = limiter(window);
    return found instanceof Promise ? found.then((made) => made.consume(userId)) : found.consume(userId);
  }

  return {
    async consume(userId, provider) {
      const windows = windowsOf(provider);
      // The windows are asked at once: one round trip to a shared store per call, not one per window.
      const outcomes = await Promise.allSettled(windows.map((window) => consumeIn(window, userId)));
      let remaining = Number.POSITIVE_INFINITY;
      let refusal: { window: Window; wait: number } | undefined;
      let failure: unknown;
      for (let index = 0; index < outcomes.length; index += 1) {
        const outcome = outcomes[index];
        const window = windows[index];
        if (!outcome || !window) continue;
        if (outcome.status === 'fulfilled') remaining = Math.min(remaining, outcome.value.remainingPoints);
        else if (outcome.reason instanceof RateLimiterRes) {
          // Both refused: the longer wait is the one that lets the next call through.
          const wait = Math.max(1, outcome.reason.msBeforeNext);
          if (!refusal || wait > refusal.wait) refusal = { window, wait };
        } else failure ??= outcome.reason;
      }
      if (refusal || failure !== undefined) {
        // A refused (or failed) call gives back the points the other windows took for it.
        await Promise.all(
          outcomes.map(async (outcome, index) => {
            const window = windows[index];
            if (outcome.status === 'fulfilled' && window) await (await limiter(window)).reward(userId, 1);
          }),
        );
      }
      if (failure !== undefined) throw failure;
      if (refusal) {
        return {
          allowed: false,
          retryAfterMs: refusal.wait,
          window: refusal.window.window,
          limit: refusal.window.points,
        };
      }
      return { allowed: true, remaining: Number.isFinite(remaining) ? remaining : Number.MAX_SAFE_INTEGER };
    },
  };
}
