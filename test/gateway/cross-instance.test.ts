import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { createKeyhaven, type Keyhaven } from '../../src/keyhaven.ts';
import { buildServer } from '../../src/server/app.ts';
import { ensureAdminToken } from '../../src/server/auth.ts';
import { type Simulator, simulatorEnvironment, startProviderSimulator } from '../../src/simulator/index.ts';
import { dropSchema, freshSchema, postgresUrl } from '../support/databases.ts';
import { GENEROUS_LIMITS, simulatorKey } from './support.ts';

/**
 * Two Keyhaven instances on one PostgreSQL schema. Instance B's gateway has the user's key cached; the
 * key is rotated through instance A; B must use the new key within a second (its cache lives for five),
 * because A's write reaches B over LISTEN/NOTIFY.
 */
describe.skipIf(!postgresUrl)('gateway credential cache across instances', () => {
  let simulator: Simulator;
  const schema = freshSchema();
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-gateway-'));
  const instances: { keyhaven: Keyhaven; app: FastifyInstance }[] = [];
  let adminToken = '';

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    const config = loadConfig({
      ...simulatorEnvironment(simulator),
      KEYHAVEN_DATA_DIR: dataDir,
      KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
      DATABASE_URL: postgresUrl,
      KEYHAVEN_DATABASE_SCHEMA: schema,
      KEYHAVEN_RATE_LIMITS: GENEROUS_LIMITS,
    });
    for (let index = 0; index < 2; index += 1) {
      const keyhaven = await createKeyhaven({ config, warn: () => {} });
      const admin = await ensureAdminToken(keyhaven.database.db, undefined);
      if (admin.generated) adminToken = admin.generated;
      const app = await buildServer({
        keyhaven,
        adminTokenHash: admin.hash,
        logger: false,
        usage: { record: () => {}, flush: async () => {} },
        events: { emit: async () => {} },
      });
      instances.push({ keyhaven, app });
    }
  });
  afterAll(async () => {
    for (const { app, keyhaven } of instances) {
      await app.close();
      await keyhaven.close();
    }
    await simulator?.close();
    await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('uses the rotated key on the other instance within one second', async () => {
    const [a, b] = instances;
    if (!a || !b) throw new Error('two instances expected');
    const admin = { authorization: `Bearer ${adminToken}` };
    const userId = 'rotating-user';
    const store = (apiKey: string) =>
      a.app.inject({
        method: 'PUT',
        url: `/v1/users/${userId}/credentials/openai`,
        headers: admin,
        payload: { credentials: { apiKey } },
      });
    expect((await store(simulatorKey('openai'))).statusCode).toBe(200);
    const minted = await a.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/tokens`,
      headers: admin,
      payload: {},
    });
    const token: string = minted.json().token;
    const callThroughB = () =>
      b.app.inject({
        method: 'GET',
        url: '/v1/openai/models',
        headers: { authorization: `Bearer ${token}` },
      });

    const warm = await callThroughB();
    expect(warm.statusCode).toBe(200);
    expect(warm.headers['x-keyhaven-credential']).toBe('openai:1');

    // Rotate to a new key. The old one stays valid at the provider, so only the invalidation (not a
    // refusal of the old key) can make B switch before its cache expires.
    const rotated = 'sk-test-openai-rotated-key';
    simulator.addKey('openai', rotated);
    expect((await store(rotated)).statusCode).toBe(200);
    const rotatedAt = Date.now();

    let last = await callThroughB();
    while (last.headers['x-keyhaven-credential'] !== 'openai:2' && Date.now() - rotatedAt < 1_000) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      last = await callThroughB();
    }
    expect(Date.now() - rotatedAt).toBeLessThan(1_000);
    expect(last.headers['x-keyhaven-credential']).toBe('openai:2');
    expect(last.statusCode).toBe(200);
    expect(simulator.requests.at(-1)?.headers.authorization).toBe(`Bearer ${rotated}`);
  });
});
