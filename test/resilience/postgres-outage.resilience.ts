import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { createKeyhaven } from '../../src/keyhaven.ts';
import {
  type PrivatePostgres,
  privatePostgresSkip,
  startPrivatePostgres,
} from '../support/private-postgres.ts';
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts';

/**
 * PostgreSQL restarted under load. A server process takes credential writes from four concurrent
 * clients; PostgreSQL is stopped as if it crashed, stays down for a few seconds, and comes back. While
 * it is down, requests fail cleanly (503 in the error model, never a 500 or a hang) and /ready says so;
 * after, the same server recovers without a restart, and every write it acknowledged is stored and
 * decrypts to what was sent.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(privatePostgresSkip !== undefined)('PostgreSQL restarted under load', () => {
  let postgres: PrivatePostgres;
  let service: ServiceProcess;
  const masterKeys = `v1:${generateMasterKey()}`;
  const adminToken = `kha_${randomBytes(32).toString('base64url')}`;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    service = await startServiceProcess({
      DATABASE_URL: postgres.url,
      KEYHAVEN_MASTER_KEYS: masterKeys,
      KEYHAVEN_ADMIN_TOKEN: adminToken,
    });
  }, 120_000);
  afterAll(async () => {
    await service?.kill();
    await postgres?.destroy();
  });

  it('answers 503 during the outage, recovers after it, and loses no acknowledged write', async () => {
    const acknowledged = new Map<string, string>();
    const phases: Record<'before' | 'down' | 'after', number[]> = { before: [], down: [], after: [] };
    let phase: keyof typeof phases = 'before';
    let running = true;
    let counter = 0;
    const bodies: string[] = [];

    async function writer(worker: number): Promise<void> {
      while (running) {
        const user = `outage-${worker}-${counter++}`;
        const apiKey = `sk-test-${randomBytes(16).toString('hex')}`;
        const started = phase;
        let status: number;
        try {
          const response = await fetch(`${service.url}/v1/users/${user}/credentials/openai`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ credentials: { apiKey }, validate: false }),
            signal: AbortSignal.timeout(15_000),
          });
          status = response.status;
          const text = await response.text();
          if (status === 200) acknowledged.set(user, apiKey);
          else bodies.push(text);
        } catch {
          status = 0; // no answer at all within the timeout: counted, and refused below
        }
        // A request that began in one phase and ended in another is counted where it ended.
        phases[phase === started ? phase : phase].push(status);
        if (status !== 200) await sleep(50);
      }
    }

    const writers = [0, 1, 2, 3].map(writer);
    await sleep(1500);
    phase = 'down';
    await postgres.stop();
    await sleep(500);
    const readyDown = await fetch(`${service.url}/ready`).catch((error: unknown) => {
      throw new Error(`the server died when PostgreSQL stopped: ${String(error)}\n${service.output()}`);
    });
    expect(readyDown.status).toBe(503);
    await sleep(2500);
    await postgres.start();
    phase = 'after';
    const deadline = Date.now() + 30_000;
    while ((await fetch(`${service.url}/ready`)).status !== 200) {
      expect(Date.now(), 'ready again within 30 s of PostgreSQL starting').toBeLessThan(deadline);
      await sleep(200);
    }
    await sleep(2000);
    running = false;
    await Promise.all(writers);

    const summary = `statuses: ${JSON.stringify(
      Object.fromEntries(Object.entries(phases).map(([name, list]) => [name, countBy(list)])),
    )}; first refusals: ${bodies.slice(0, 3).join(' | ')}`;
    expect(phases.before.filter((status) => status === 200).length, summary).toBeGreaterThan(5);
    // During the outage: only clean refusals (or writes that had reached PostgreSQL just before it stopped).
    expect(phases.down.filter((status) => status === 503).length, summary).toBeGreaterThan(0);
    expect(
      phases.down.every((status) => status === 503 || status === 200),
      summary,
    ).toBe(true);
    for (const body of bodies) expect(JSON.parse(body).error.code, summary).toBe('unavailable');
    // After: the same process serves writes again.
    expect(phases.after.filter((status) => status === 200).length, summary).toBeGreaterThan(5);
    expect(
      phases.after.slice(-5).every((status) => status === 200),
      summary,
    ).toBe(true);
    expect(service.child.exitCode, 'the server stayed up').toBeNull();

    // Every acknowledged write is there and decrypts to what was sent, read back by another process.
    await service.stop();
    const keyhaven = await createKeyhaven({
      config: loadConfig({ DATABASE_URL: postgres.url, KEYHAVEN_MASTER_KEYS: masterKeys }),
      warn: () => {},
    });
    try {
      for (const [user, apiKey] of acknowledged) {
        const revealed = await keyhaven.vault.reveal({
          userId: user,
          provider: 'openai',
          purpose: 'resilience-check',
        });
        expect(revealed.credentials.apiKey?.reveal(), user).toBe(apiKey);
      }
    } finally {
      await keyhaven.close();
    }
  }, 180_000);
});

function countBy(list: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of list) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}
