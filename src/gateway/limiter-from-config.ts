import { Redis } from 'ioredis';
import pg from 'pg';
import type { Config } from '../config.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { RateLimits } from '../providers/spec.ts';
import { survivesLostConnections } from '../store/index.ts';
import { createRateLimiter, type ProviderRateLimiter, type RateLimitStore } from './rate-limits.ts';

/**
 * The composition of the gateway's rate limiter: Redis when REDIS_URL is set, else the PostgreSQL database
 * when DATABASE_URL is set (every instance counts against one limit), else memory (one process). Limits
 * are each provider's declared defaults, overridden per provider by KEYHAVEN_RATE_LIMITS.
 */
export interface ConfiguredLimiter {
  limiter: ProviderRateLimiter;
  store: RateLimitStore['kind'];
  close(): Promise<void>;
}

export function limitsFor(
  config: Pick<Config, 'rateLimits'>,
  providers: Pick<ProviderRegistry, 'get'>,
): (provider: string) => RateLimits {
  return (provider) => ({
    ...(providers.get(provider)?.defaultRateLimits ?? {}),
    ...(config.rateLimits[provider] ?? {}),
  });
}

export function limiterFromConfig(
  config: Pick<Config, 'redisUrl' | 'databaseUrl' | 'databaseSchema' | 'rateLimits'>,
  providers: Pick<ProviderRegistry, 'get'>,
): ConfiguredLimiter {
  const limits = limitsFor(config, providers);
  if (config.redisUrl) {
    // Commands fail fast while Redis is down instead of queueing behind a dead connection.
    const client = new Redis(config.redisUrl, { maxRetriesPerRequest: 1 });
    client.on('error', () => {
      // ioredis reconnects on its own; a failing consume() reports the outage per request.
    });
    return {
      limiter: createRateLimiter({ store: { kind: 'redis', client }, limitsFor: limits }),
      store: 'redis',
      async close() {
        client.disconnect();
      },
    };
  }
  if (config.databaseUrl) {
    const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 5 });
    survivesLostConnections(pool);
    return {
      limiter: createRateLimiter({
        store: { kind: 'postgres', pool, schema: config.databaseSchema },
        limitsFor: limits,
      }),
      store: 'postgres',
      close: () => pool.end(),
    };
  }
  return { limiter: createRateLimiter({ limitsFor: limits }), store: 'memory', close: async () => {} };
}
