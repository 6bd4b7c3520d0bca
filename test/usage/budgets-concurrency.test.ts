import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { isKeyhavenError } from '../../src/errors.ts';
import { createKeyhaven, type Keyhaven } from '../../src/keyhaven.ts';
import { defaultPriceTable } from '../../src/providers/prices/index.ts';
import { buildServer } from '../../src/server/app.ts';
import { ensureAdminToken } from '../../src/server/auth.ts';
import { type Simulator, simulatorEnvironment, startProviderSimulator } from '../../src/simulator/index.ts';
import { costOfRecord, createBudgets, type UsageRecord } from '../../src/usage/index.ts';
import { GENEROUS_LIMITS, simulatorKey } from '../gateway/support.ts';
import { databaseTargets, dropSchema, freshSchema, postgresUrl } from '../support/databases.ts';

/**
 * 200 concurrent calls against a small hard budget: whatever the interleaving, the month's spending may
 * pass the amount by at most one call's estimate, on PGlite, on PostgreSQL, and with two instances
 * sharing PostgreSQL. Every call either went through (200) or was refused before reaching the provider
 * (402), and the budget's figure equals the cost of the calls that went through.
 */
const CALLS = 200;
const BODY = {
  model: 'gpt-4o',
  max_tokens: 12,
  messages: [{ role: 'user', content: 'Say hello' }],
};
const BODY_BYTES = Buffer.byteLength(JSON.stringify(BODY));
/** Micro-USD: room for about ten calls of this size. */
const AMOUNT_MICRO_USD = 2_000;
const USER = 'budget-racer';

const ESTIMATE = createBudgets({
  db: undefined as never,
  prices: defaultPriceTable,
  events: { emit: async () => {} },
}).estimateCall({
  userId: USER,
  provider: 'openai',
  method: 'POST',
  path: '/chat/completions',
  model: 'gpt-4o',
  body: BODY,
  bodyBytes: BODY_BYTES,
});

interface Instance {
  app: FastifyInstance;
  keyhaven: Keyhaven;
  usage: UsageRecord[];
}

async function startInstances(
  count: number,
  simulator: Simulator,
  database: Record<string, string>,
): Promise<{ instances: Instance[]; adminToken: string; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-budgets-'));
  const config = loadConfig({
    ...simulatorEnvironment(simulator),
    KEYHAVEN_DATA_DIR: dataDir,
    KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
    KEYHAVEN_RATE_LIMITS: GENEROUS_LIMITS,
    ...database,
  });
  const instances: Instance[] = [];
  let adminToken = '';
  for (let index = 0; index < count; index += 1) {
    const keyhaven = await createKeyhaven({ config, warn: () => {} });
    const admin = await ensureAdminToken(keyhaven.database.db, undefined);
    if (admin.generated) adminToken = admin.generated;
    const usage: UsageRecord[] = [];
    const app = await buildServer({
      keyhaven,
      adminTokenHash: admin.hash,
      logger: false,
      usage: { record: (record) => usage.push(record), flush: async () => {} },
      events: { emit: async () => {} },
      videoWorker: { enabled: false },
    });
    instances.push({ app, keyhaven, usage });
  }
  return {
    instances,
    adminToken,
    async close() {
      for (const { app, keyhaven } of instances) {
        await app.close();
        await keyhaven.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Sets up the user and budget on the first instance, fires the calls round-robin, checks the bound. */
async function race(
  instances: Instance[],
  adminToken: string,
  simulator: Simulator,
  userId: string,
): Promise<void> {
  const [first] = instances;
  if (!first || ESTIMATE === null) throw new Error('an instance and a priced model expected');
  const admin = { authorization: `Bearer ${adminToken}` };
  const stored = await first.app.inject({
    method: 'PUT',
    url: `/v1/users/${userId}/credentials/openai`,
    headers: admin,
    payload: { credentials: { apiKey: simulatorKey('openai') } },
  });
  expect(stored.statusCode).toBe(200);
  const token: string = (
    await first.app.inject({ method: 'POST', url: `/v1/users/${userId}/tokens`, headers: admin, payload: {} })
  ).json().token;
  const budget = await first.app.inject({
    method: 'PUT',
    url: `/v1/users/${userId}/budget`,
    headers: admin,
    payload: { amountUsd: AMOUNT_MICRO_USD / 1_000_000, mode: 'hard' },
  });
  expect(budget.statusCode).toBe(200);

  // A little upstream latency so that many calls are in flight at once.
  simulator.addFault({ provider: 'openai', latencyMs: 100 });
  const upstreamBefore = simulator.requests.length;
  const responses = await Promise.all(
    Array.from({ length: CALLS }, (_unused, index) =>
      (instances[index % instances.length] ?? first).app.inject({
        method: 'POST',
        url: '/v1/openai/chat/completions',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: BODY,
      }),
    ),
  );
  simulator.clearFaults('openai');
  const statuses = responses.map((response) => response.statusCode);
  const passed = statuses.filter((status) => status === 200).length;
  expect(statuses.every((status) => status === 200 || status === 402)).toBe(true);
  expect(passed).toBeGreaterThan(0);
  expect(passed).toBeLessThan(CALLS);
  // Refused calls never reached the provider.
  expect(simulator.requests.length - upstreamBefore).toBe(passed);

  for (const { app } of instances) await app.inject({ method: 'GET', url: '/health' });
  const deadline = Date.now() + 5_000;
  let figures = (
    await first.app.inject({ method: 'GET', url: `/v1/users/${userId}/budget`, headers: admin })
  ).json();
  while (figures.reservedMicroUsd !== 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    figures = (
      await first.app.inject({ method: 'GET', url: `/v1/users/${userId}/budget`, headers: admin })
    ).json();
  }
  const records = instances
    .flatMap((instance) => instance.usage)
    .filter((record) => record.userId === userId && record.status === 200);
  expect(records).toHaveLength(passed);
  const charged = records.reduce((sum, record) => sum + (costOfRecord(defaultPriceTable, record) ?? 0), 0);
  expect(figures.reservedMicroUsd).toBe(0);
  expect(figures.spentMicroUsd).toBe(charged);
  // The bound: at most one call's estimate past the amount. Here every call cost less than its
  // estimate, and then the amount itself holds.
  expect(figures.spentMicroUsd).toBeLessThanOrEqual(AMOUNT_MICRO_USD + ESTIMATE);
  expect(Math.max(...records.map((record) => costOfRecord(defaultPriceTable, record) ?? 0))).toBeLessThan(
    ESTIMATE,
  );
  expect(figures.spentMicroUsd).toBeLessThanOrEqual(AMOUNT_MICRO_USD);
}

describe('budgets under concurrent calls', () => {
  let simulator: Simulator;

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
  });
  afterAll(async () => {
    await simulator?.close();
  });

  it('holds the estimate of one call as the largest overshoot', () => {
    // The figures the bound is about: about ten calls fit, so 200 calls must mostly be refused.
    expect(ESTIMATE).toBeGreaterThan(100);
    expect(ESTIMATE).toBeLessThan(AMOUNT_MICRO_USD / 5);
  });

  describe.each(databaseTargets)('on $name', ({ name }) => {
    let started: Awaited<ReturnType<typeof startInstances>>;
    const schema = name === 'postgres' ? freshSchema() : undefined;

    beforeAll(async () => {
      // Two instances on PostgreSQL (one schema); the embedded database serves one process.
      started = await startInstances(
        name === 'postgres' ? 2 : 1,
        simulator,
        schema && postgresUrl ? { DATABASE_URL: postgresUrl, KEYHAVEN_DATABASE_SCHEMA: schema } : {},
      );
    });
    afterAll(async () => {
      await started?.close();
      if (schema) await dropSchema(schema);
    });

    it(`grants exactly what the budget holds to ${CALLS} reservations made at once`, async () => {
      const [instance] = started.instances;
      if (!instance || ESTIMATE === null) throw new Error('an instance and a priced model expected');
      const userId = 'budget-reserver';
      const budgets = createBudgets({
        db: instance.keyhaven.database.db,
        prices: defaultPriceTable,
        events: { emit: async () => {} },
      });
      await budgets.set(userId, { amountUsd: AMOUNT_MICRO_USD / 1_000_000, thresholds: [], mode: 'hard' });
      const call = {
        userId,
        provider: 'openai',
        method: 'POST',
        path: '/chat/completions',
        model: 'gpt-4o',
        body: BODY,
        bodyBytes: BODY_BYTES,
      };
      const outcomes = await Promise.allSettled(
        Array.from({ length: CALLS }, () => budgets.reserveCall(call)),
      );
      const granted = outcomes.flatMap((outcome) =>
        outcome.status === 'fulfilled' && outcome.value ? [outcome.value] : [],
      );
      const refused = outcomes.filter(
        (outcome) => outcome.status === 'rejected' && isKeyhavenError(outcome.reason, 'budget_exceeded'),
      );
      // Nothing settles in between: exactly as many as fit, the rest refused.
      expect(granted).toHaveLength(Math.floor(AMOUNT_MICRO_USD / ESTIMATE));
      expect(refused).toHaveLength(CALLS - granted.length);
      expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: granted.length * ESTIMATE });
      // Released without a usage record (the call never went out): nothing is charged.
      for (const reservation of granted) budgets.settleCall(reservation, undefined);
      await budgets.drain();
      expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: 0, spentMicroUsd: 0 });
    });

    it(`keeps ${CALLS} concurrent calls through the gateway within a hard budget`, async () => {
      await race(started.instances.slice(0, 1), started.adminToken, simulator, 'budget-racer');
    }, 30_000);

    it.skipIf(name !== 'postgres')(
      `keeps ${CALLS} concurrent calls over two instances sharing PostgreSQL within a hard budget`,
      async () => {
        expect(started.instances).toHaveLength(2);
        await race(started.instances, started.adminToken, simulator, 'budget-racer-two');
      },
      30_000,
    );
  });
});
