import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema, freshSchema, postgresUrl } from '../../test/support/databases.ts';
import type { RateLimits } from '../providers/spec.ts';
import { createRateLimiter, type RateLimitStore } from './rate-limits.ts';

const redisUrl = process.env.TEST_REDIS_URL;
const limits: Record<string, RateLimits> = {
  runway: { perMinute: 5, perHour: 7 },
  open: {},
  burst: { perMinute: 25 },
};
const limitsFor = (provider: string) => limits[provider] ?? {};

describe('rate limits in memory', () => {
  it('allows the per-minute limit, then refuses with the wait until the window ends', async () => {
    const limiter = createRateLimiter({ limitsFor });
    const decisions = [];
    for (let index = 0; index < 6; index += 1) decisions.push(await limiter.consume('user-a', 'runway'));
    expect(decisions.slice(0, 5).every((decision) => decision.allowed)).toBe(true);
    const refused = decisions[5];
    expect(refused).toMatchObject({ allowed: false, window: 'minute', limit: 5 });
    if (refused && !refused.allowed) {
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
    // Another user, and another provider, have their own budgets.
    expect((await limiter.consume('user-b', 'runway')).allowed).toBe(true);
    expect((await limiter.consume('user-a', 'open')).allowed).toBe(true);
  });

  it('refuses by the hour limit once the minute resets, and gives back the minute point of a refusal', async () => {
    let now = 0;
    const limiter = createRateLimiter({ limitsFor, keyPrefix: `hour-${randomBytes(3).toString('hex')}` });
    const realNow = Date.now;
    Date.now = () => realNow() + now;
    try {
      for (let index = 0; index < 5; index += 1)
        expect((await limiter.consume('user-h', 'runway')).allowed).toBe(true);
      now += 61_000;
      expect((await limiter.consume('user-h', 'runway')).allowed).toBe(true);
      expect((await limiter.consume('user-h', 'runway')).allowed).toBe(true);
      const byHour = await limiter.consume('user-h', 'runway');
      expect(byHour).toMatchObject({ allowed: false, window: 'hour', limit: 7 });
    } finally {
      Date.now = realNow;
    }
  });
});

async function exactlyAcrossInstances(stores: [RateLimitStore, RateLimitStore]) {
  const keyPrefix = `global-${randomBytes(4).toString('hex')}`;
  const instances = stores.map((store) => createRateLimiter({ store, limitsFor, keyPrefix }));
  const decisions = await Promise.all(
    Array.from({ length: 60 }, (_, index) => instances[index % 2]?.consume('user-g', 'burst')),
  );
  return decisions.filter((decision) => decision?.allowed).length;
}

describe.skipIf(!redisUrl)('rate limits in Redis', () => {
  const clients: Redis[] = [];
  afterAll(() => {
    for (const client of clients) client.disconnect();
  });

  it('hold exactly across two instances with their own connections', async () => {
    const first = new Redis(redisUrl ?? '');
    const second = new Redis(redisUrl ?? '');
    clients.push(first, second);
    expect(
      await exactlyAcrossInstances([
        { kind: 'redis', client: first },
        { kind: 'redis', client: second },
      ]),
    ).toBe(25);
  });
});

describe.skipIf(!postgresUrl)('rate limits in PostgreSQL', () => {
  const schema = freshSchema();
  const pools: pg.Pool[] = [];
  afterAll(async () => {
    for (const pool of pools) await pool.end();
    await dropSchema(schema);
  });

  it('hold exactly across two instances with their own pools', async () => {
    const setup = new pg.Client({ connectionString: postgresUrl });
    await setup.connect();
    await setup.query(`create schema if not exists ${schema}`);
    await setup.end();
    const first = new pg.Pool({ connectionString: postgresUrl, max: 5 });
    const second = new pg.Pool({ connectionString: postgresUrl, max: 5 });
    pools.push(first, second);
    expect(
      await exactlyAcrossInstances([
        { kind: 'postgres', pool: first, schema },
        { kind: 'postgres', pool: second, schema },
      ]),
    ).toBe(25);
  });

  it('start together on a new schema: every instance serves, whichever of them created the table', async () => {
    // Instances that start at the same moment all create the table; PostgreSQL can refuse all but
    // one CREATE TABLE IF NOT EXISTS ('type ... already exists'). Each round uses a schema of its own.
    for (let round = 0; round < 4; round += 1) {
      const roundSchema = freshSchema();
      const setup = new pg.Client({ connectionString: postgresUrl });
      await setup.connect();
      await setup.query(`create schema ${roundSchema}`);
      await setup.end();
      try {
        const instances = Array.from({ length: 6 }, () => {
          const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
          pools.push(pool);
          return createRateLimiter({ store: { kind: 'postgres', pool, schema: roundSchema }, limitsFor });
        });
        const outcomes = await Promise.all(instances.map((instance) => instance.consume('starter', 'burst')));
        expect(outcomes.every((outcome) => outcome.allowed)).toBe(true);
      } finally {
        await dropSchema(roundSchema);
      }
    }
  });
});
