import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { createKeyhaven } from '../../src/keyhaven.ts';
import {
  type Simulator,
  simulatorEnvironment,
  simulatorKeys,
  startProviderSimulator,
} from '../../src/simulator/index.ts';
import { databaseTargets, dropSchema, freshSchema, postgresUrl } from '../support/databases.ts';
import { startServiceProcess } from '../support/service-process.ts';

/**
 * SIGKILL of the server during writes, on PGlite and on PostgreSQL. Clients store credentials and make
 * passthrough calls (each one a usage event) until the server is killed without warning. After a
 * restart on the same data, every acknowledged credential is there and decrypts to what was sent, and
 * every acknowledged call's usage event is there unless it was acknowledged within the documented loss
 * window before the kill (the usage writer flushes every 250 ms; we allow one second).
 */
const LOSS_WINDOW_MS = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(databaseTargets)('SIGKILL during writes on $name', ({ name }) => {
  let simulator: Simulator;
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-sigkill-'));
  const schema = name === 'postgres' ? freshSchema() : undefined;
  const masterKeys = `v1:${generateMasterKey()}`;
  const adminToken = `kha_${randomBytes(32).toString('base64url')}`;
  let env: Record<string, string>;

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    env = {
      ...simulatorEnvironment(simulator),
      KEYHAVEN_DATA_DIR: dataDir,
      KEYHAVEN_MASTER_KEYS: masterKeys,
      KEYHAVEN_ADMIN_TOKEN: adminToken,
      ...(schema && postgresUrl ? { DATABASE_URL: postgresUrl, KEYHAVEN_DATABASE_SCHEMA: schema } : {}),
    };
  });
  afterAll(async () => {
    await simulator?.close();
    if (schema) await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged credential and every usage event outside the loss window', async () => {
    const first = await startServiceProcess(env);
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    // One user with a real key for passthrough calls.
    const connected = await fetch(`${first.url}/v1/users/caller/credentials/openai`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ credentials: { apiKey: simulatorKeys().openai?.[0] } }),
    });
    expect(connected.status).toBe(200);

    const credentials = new Map<string, string>();
    const calls: { requestId: string; at: number }[] = [];
    let running = true;
    let counter = 0;
    async function storeLoop(worker: number): Promise<void> {
      while (running) {
        const user = `killed-${worker}-${counter++}`;
        const apiKey = `sk-test-${randomBytes(16).toString('hex')}`;
        try {
          const response = await fetch(`${first.url}/v1/users/${user}/credentials/openai`, {
            method: 'PUT',
            headers: admin,
            body: JSON.stringify({ credentials: { apiKey }, validate: false }),
          });
          await response.text();
          if (response.status === 200) credentials.set(user, apiKey);
        } catch {
          return; // the server is gone
        }
      }
    }
    async function callLoop(): Promise<void> {
      while (running) {
        try {
          const response = await fetch(`${first.url}/v1/openai/chat/completions`, {
            method: 'POST',
            headers: { ...admin, 'x-keyhaven-user': 'caller' },
            body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
          });
          await response.text();
          const requestId = response.headers.get('x-request-id');
          if (response.status === 200 && requestId) calls.push({ requestId, at: Date.now() });
        } catch {
          return;
        }
      }
    }
    const loops = [storeLoop(0), storeLoop(1), callLoop(), callLoop()];
    await sleep(2500);
    const killedAt = Date.now();
    await first.kill();
    running = false;
    await Promise.all(loops);
    expect(credentials.size, 'credentials acknowledged before the kill').toBeGreaterThan(5);
    expect(calls.length, 'calls acknowledged before the kill').toBeGreaterThan(5);

    // The server starts again on the same data and serves what was stored.
    const second = await startServiceProcess(env);
    const [someUser] = credentials.keys();
    const summary = await fetch(`${second.url}/v1/users/${someUser}/credentials/openai`, { headers: admin });
    expect(summary.status).toBe(200);
    expect(((await summary.json()) as { connected: boolean }).connected).toBe(true);
    expect(await second.stop()).toBe(0);

    const keyhaven = await createKeyhaven({ config: loadConfig(env), warn: () => {} });
    try {
      for (const [user, apiKey] of credentials) {
        const revealed = await keyhaven.vault.reveal({ userId: user, provider: 'openai', purpose: 'check' });
        expect(revealed.credentials.apiKey?.reveal(), user).toBe(apiKey);
      }
      const stored = new Set(
        (
          await keyhaven.database.db
            .selectFrom('usage_events')
            .select('request_id')
            .where('user_id', '=', 'caller')
            .execute()
        ).map((row) => row.request_id),
      );
      const mustBeThere = calls.filter((call) => call.at < killedAt - LOSS_WINDOW_MS);
      expect(mustBeThere.length).toBeGreaterThan(0);
      const missing = mustBeThere.filter((call) => !stored.has(call.requestId));
      expect(missing, `${missing.length} of ${mustBeThere.length} usage events lost`).toEqual([]);
    } finally {
      await keyhaven.close();
    }
  });
});
