import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Simulator, startProviderSimulator } from '../../src/simulator/index.ts';
import { databaseTargets } from '../support/databases.ts';
import { startTestServer } from '../support/server.ts';
import { FAST_WEBHOOKS, persistentSetup, producerFor, type Receiver, startReceiver } from './support.ts';

/**
 * Deliveries outlive the server that queued them: a retry that falls due while no server runs is sent
 * by the next server on the same database. Without KEYHAVEN_ALLOW_PRIVATE_URLS, loopback receivers
 * are refused.
 */
const wait = { timeout: 10_000, interval: 20 };

describe.each(databaseTargets)('webhook deliveries across restarts on $name', ({ name }) => {
  let simulator: Simulator;
  let receiver: Receiver;

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await simulator?.close();
  });

  it('a retry due while the server is down is delivered by the next server', async () => {
    // The first attempt fails; the retry falls due 0.75-1.5 s later, while no server is running.
    receiver.respond('/restart', [503]);
    const setup = persistentSetup({
      target: name,
      simulator,
      env: { ...FAST_WEBHOOKS, KEYHAVEN_WEBHOOK_RETRY_BASE_MS: '1500' },
    });
    const admin = { authorization: `Bearer ${setup.adminToken}` };
    try {
      const first = await setup.start();
      let secret: string;
      let endpointId: string;
      let dueAt = 0;
      try {
        const created = await first.app.inject({
          method: 'POST',
          url: '/v1/webhooks',
          headers: admin,
          payload: { url: receiver.url('/restart') },
        });
        expect(created.statusCode).toBe(201);
        ({ secret, id: endpointId } = created.json<{ secret: string; id: string }>());
        const producer = producerFor(first.keyhaven);
        await producer.emit({ type: 'video.succeeded', userId: 'rita', data: { jobId: 'vid_restart' } });
        await producer.close();
        await vi.waitFor(() => expect(receiver.requests('/restart')).toHaveLength(1), wait);
        dueAt = await vi.waitFor(async () => {
          const row = await first.keyhaven.database.db
            .selectFrom('webhook_deliveries')
            .selectAll()
            .executeTakeFirstOrThrow();
          expect(row).toMatchObject({ attempts: 1, status: 'pending', lease_owner: null });
          return new Date(row.next_attempt_at ?? 0).getTime();
        }, wait);
      } finally {
        await first.close();
      }

      // Down for longer than the retry wait: the delivery is due with no server to send it.
      await new Promise((resolve) => setTimeout(resolve, 1600));
      expect(receiver.requests('/restart')).toHaveLength(1);
      expect(Date.now()).toBeGreaterThan(dueAt);

      const second = await setup.start();
      try {
        await vi.waitFor(() => expect(receiver.requests('/restart')).toHaveLength(2), wait);
        const [failed, delivered] = receiver.requests('/restart');
        expect(delivered?.headers['webhook-id']).toBe(failed?.headers['webhook-id']);
        if (!delivered) throw new Error('nothing delivered');
        // The endpoint's secret survived the restart (decrypted by the new server with the same master key).
        expect(
          new Webhook(secret).verify(delivered.body, {
            'webhook-id': delivered.headers['webhook-id'] ?? '',
            'webhook-timestamp': delivered.headers['webhook-timestamp'] ?? '',
            'webhook-signature': delivered.headers['webhook-signature'] ?? '',
          }),
        ).toMatchObject({ type: 'video.succeeded', data: { jobId: 'vid_restart' } });
        const log = await vi.waitFor(async () => {
          const response = await second.app.inject({
            url: `/v1/webhooks/${endpointId}/deliveries`,
            headers: admin,
          });
          const [delivery] = response.json<{ deliveries: { status: string; attempts: number }[] }>()
            .deliveries;
          expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2 });
          return delivery;
        }, wait);
        expect(log).toBeDefined();
      } finally {
        await second.close();
      }
    } finally {
      await setup.dispose();
    }
  });

  it('refuses loopback and private endpoint URLs unless KEYHAVEN_ALLOW_PRIVATE_URLS is set', async () => {
    const server = await startTestServer({ target: name, simulator });
    try {
      const admin = { authorization: `Bearer ${server.adminToken}` };
      for (const url of [receiver.url('/private'), 'http://10.0.0.8/hook', 'http://[::1]:8080/hook']) {
        const refused = await server.app.inject({
          method: 'POST',
          url: '/v1/webhooks',
          headers: admin,
          payload: { url },
        });
        expect(refused.statusCode, url).toBe(400);
        expect(refused.json()).toMatchObject({
          error: { code: 'invalid_request', message: expect.stringContaining('KEYHAVEN_ALLOW_PRIVATE_URLS') },
        });
      }
      const list = await server.app.inject({ url: '/v1/webhooks', headers: admin });
      expect(list.json()).toEqual({ webhooks: [] });
    } finally {
      await server.close();
    }
  });
});
