import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyhaven, generateMasterKey, type Keyhaven, loadConfig } from '../../src/index.ts';
import {
  type Simulator,
  simulatorEnvironment,
  simulatorKeys,
  startProviderSimulator,
} from '../../src/simulator/index.ts';
import { summarizeUsage } from '../../src/usage/index.ts';

/**
 * The library entry offers what the HTTP API does, without a server: an application that embeds
 * Keyhaven mints user tokens, runs video jobs to completion, keeps a budget, registers webhooks and
 * reads usage through `createKeyhaven()` and `keyhaven.services()`.
 */
describe('createKeyhaven as a library', () => {
  let simulator: Simulator;
  let keyhaven: Keyhaven;
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-library-'));

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    keyhaven = await createKeyhaven({
      config: loadConfig({
        ...simulatorEnvironment(simulator),
        KEYHAVEN_DATA_DIR: dataDir,
        KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
        KEYHAVEN_ALLOW_PRIVATE_URLS: 'true',
      }),
      warn: () => {},
    });
  });
  afterAll(async () => {
    await keyhaven?.close();
    await simulator?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('mints and revokes user tokens, and authenticates them', async () => {
    const { tokens } = keyhaven.services();
    const minted = await tokens.mint({ userId: 'lib-user', ttlSeconds: 600 });
    const principal = await tokens.authenticate(`Bearer ${minted.token}`);
    expect(principal).toMatchObject({ kind: 'user', userId: 'lib-user' });
    await tokens.revoke({ tokenId: minted.id, principal });
    await expect(tokens.authenticate(`Bearer ${minted.token}`)).rejects.toMatchObject({
      code: 'unauthorized',
    });
  });

  it('runs a video job to completion with the worker started, and meters it', async () => {
    await keyhaven.vault.store({
      userId: 'lib-user',
      provider: 'runway',
      credentials: { apiKey: simulatorKeys().runway?.[0] ?? '' },
    });
    const services = keyhaven.services({ videoWorker: { pollIntervalMs: 20, initialPollDelayMs: 20 } });
    expect(keyhaven.services()).toBe(services);
    await services.start();
    const job = await services.videos.submit('lib-user', { provider: 'runway', prompt: 'a lighthouse' });
    expect(job.id).toMatch(/^vid_/);
    const deadline = Date.now() + 20_000;
    let current = job;
    while (current.status !== 'succeeded') {
      expect(current.status).not.toBe('failed');
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
      current = await services.videos.get('lib-user', job.id);
    }
    await services.usage.flush();
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const usage = await summarizeUsage(keyhaven.database.db, {
      userId: 'lib-user',
      from: today,
      to: tomorrow,
      groupBy: 'provider',
    });
    expect(usage.groups.find((group) => group.key === 'runway')?.requests).toBe(1);
  });

  it('keeps a budget and registers a webhook endpoint', async () => {
    const { budgets, webhooks } = keyhaven.services();
    const view = await budgets.set('lib-user', { amountUsd: 5, thresholds: [50, 100], mode: 'hard' });
    expect(view).toMatchObject({ amountUsd: 5, mode: 'hard' });
    expect((await budgets.get('lib-user')).amountUsd).toBe(5);
    const { endpoint, secret } = await webhooks.createEndpoint({ url: 'http://127.0.0.1:9/hook' });
    expect(endpoint.id).toMatch(/^whk_/);
    expect(secret.reveal()).toMatch(/^whsec_/);
    expect((await webhooks.listEndpoints()).map((entry) => entry.id)).toContain(endpoint.id);
  });
});
