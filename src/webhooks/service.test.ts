import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import { createLocalKms, generateMasterKey, parseMasterKeys } from '../crypto/index.ts';
import { isKeyhavenError } from '../errors.ts';
import type { WebhookFetch } from './send.ts';
import { createWebhookService, type WebhookService } from './service.ts';

/**
 * The service without HTTP: a fake transport, a clock the test moves, and several workers on one
 * database. What the end-to-end suite (test/webhooks) cannot force: exact timing, contention, pruning.
 */
describe.each(databaseTargets)('webhook service on $name', (target) => {
  let database: TestDatabase;
  let now: Date;
  const kms = createLocalKms(parseMasterKeys(`v1:${generateMasterKey()}`));
  const sent: { url: string; id: string }[] = [];
  let answer = 200;
  const fetch: WebhookFetch = async (url, init) => {
    sent.push({ url, id: init.headers['webhook-id'] ?? '' });
    return { status: answer, headers: new Headers() };
  };
  const services: WebhookService[] = [];
  const service = (settings = {}) => {
    const created = createWebhookService({
      db: database.db,
      kms,
      tenant: 'default',
      allowPrivateUrls: true,
      clock: () => now,
      fetch,
      random: () => 0,
      batchSize: 4,
      settings: { maxAttempts: 3, retryBaseMs: 1000, ...settings },
    });
    services.push(created);
    return created;
  };

  beforeAll(async () => {
    database = await target.open();
  });
  beforeEach(async () => {
    now = new Date('2026-01-01T00:00:00Z');
    sent.length = 0;
    answer = 200;
    await database.db.deleteFrom('webhook_events').execute();
    await database.db.deleteFrom('webhook_endpoints').execute();
  });
  afterAll(async () => {
    for (const created of services) await created.close();
    await database?.close();
  });

  it('refuses malformed events and records nothing when no one listens', async () => {
    const webhooks = service();
    const invalid = [
      { type: 'video.exploded', userId: 'u', data: {} },
      { type: 'video.failed', userId: '', data: {} },
      { type: 'video.failed', userId: 'u', data: {}, webhookUrl: 'ftp://example.com' },
      { type: 'video.failed', userId: 'u', data: { blob: 'x'.repeat(300 * 1024) } },
    ];
    for (const event of invalid) {
      const error = await webhooks.emit(event as never).catch((caught: unknown) => caught);
      expect(isKeyhavenError(error, 'invalid_request')).toBe(true);
    }
    await webhooks.emit({ type: 'video.failed', userId: 'u', data: {} });
    expect(await database.db.selectFrom('webhook_events').selectAll().execute()).toHaveLength(0);
  });

  it('waits out the backoff on the clock: nothing is sent before the next attempt is due', async () => {
    const webhooks = service();
    const { endpoint } = await webhooks.createEndpoint({ url: 'http://127.0.0.1:9/a' });
    answer = 503;
    await webhooks.emit({ type: 'video.failed', userId: 'u', data: {} });
    expect(await webhooks.runOnce()).toBe(1);
    // random() = 0: the first wait is exactly half the 1000 ms base.
    now = new Date(now.getTime() + 499);
    expect(await webhooks.runOnce()).toBe(0);
    now = new Date(now.getTime() + 1);
    expect(await webhooks.runOnce()).toBe(1);
    // Second wait: half of 4000 ms.
    now = new Date(now.getTime() + 1999);
    expect(await webhooks.runOnce()).toBe(0);
    now = new Date(now.getTime() + 1);
    answer = 200;
    expect(await webhooks.runOnce()).toBe(1);
    const [delivery] = await webhooks.listDeliveries({ endpointId: endpoint.id });
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(
      delivery?.history.map((attempt) => attempt.startedAt.getTime() - Date.parse('2026-01-01')),
    ).toEqual([0, 500, 2500]);
    expect(sent).toHaveLength(3);
  });

  it('several workers share the queue: every delivery is sent exactly once', async () => {
    const producer = service();
    await producer.createEndpoint({ url: 'http://127.0.0.1:9/shared' });
    for (let index = 0; index < 30; index += 1) {
      await producer.emit({ type: 'video.succeeded', userId: `user${index}`, data: { index } });
    }
    const workers = [service(), service(), service()];
    for (let pass = 0; pass < 20; pass += 1) {
      const claimed = await Promise.all(workers.map((worker) => worker.runOnce()));
      if (claimed.every((count) => count === 0)) break;
    }
    expect(sent).toHaveLength(30);
    expect(new Set(sent.map((entry) => entry.id)).size).toBe(30);
    const pending = await database.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '<>', 'succeeded')
      .execute();
    expect(pending).toHaveLength(0);
  });

  it('a delivery whose secret cannot be opened fails its attempts with backoff instead of looping', async () => {
    const webhooks = service();
    const { endpoint } = await webhooks.createEndpoint({ url: 'http://127.0.0.1:9/broken-secret' });
    const other = await webhooks.createEndpoint({ url: 'http://127.0.0.1:9/other' });
    // The other endpoint's blob on this row: the AAD names the other row, so it does not decrypt.
    const { secret } = await database.db
      .selectFrom('webhook_endpoints')
      .select('secret')
      .where('id', '=', other.endpoint.id)
      .executeTakeFirstOrThrow();
    await database.db
      .updateTable('webhook_endpoints')
      .set({ secret })
      .where('id', '=', endpoint.id)
      .execute();
    await webhooks.removeEndpoint(other.endpoint.id);
    await webhooks.emit({ type: 'video.failed', userId: 'u', data: {} });
    expect(await webhooks.runOnce()).toBe(1);
    expect(await webhooks.runOnce()).toBe(0);
    const [delivery] = await webhooks.listDeliveries({ endpointId: endpoint.id });
    expect(delivery).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: 'internal error: the delivery could not be prepared',
    });
    expect(sent).toHaveLength(0);
  });

  it('prunes finished events past the retention and keeps pending ones', async () => {
    const webhooks = service({ retentionDays: 1 });
    await webhooks.createEndpoint({ url: 'http://127.0.0.1:9/prune' });
    await webhooks.emit({ type: 'video.succeeded', userId: 'old-done', data: {} });
    await webhooks.runOnce();
    answer = 500;
    await webhooks.emit({ type: 'video.succeeded', userId: 'old-pending', data: {} });
    await webhooks.runOnce();
    now = new Date(now.getTime() + 2 * 86_400_000);
    expect(await webhooks.prune()).toBe(1);
    const left = await database.db.selectFrom('webhook_events').select('user_id').execute();
    expect(left.map((row) => row.user_id)).toEqual(['old-pending']);
  });
});
