import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Simulator, startProviderSimulator } from '../../src/simulator/index.ts';
import type { WebhookService } from '../../src/webhooks/index.ts';
import { databaseTargets } from '../support/databases.ts';
import { closedPortURL } from '../support/providers.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { FAST_WEBHOOKS, producerFor, type ReceivedRequest, type Receiver, startReceiver } from './support.ts';

/**
 * Webhooks end to end: endpoints over the API, events from a producer on the same database, a real
 * local receiver, signatures checked with the standardwebhooks verifier, retries, the delivery log and
 * the secrets at rest.
 */
interface CreatedEndpoint {
  id: string;
  url: string;
  events: string[];
  createdAt: string;
  secret: string;
}

interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  userId: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  completedAt: string | null;
  history: { attempt: number; startedAt: string; responseStatus: number | null; error: string | null }[];
}

const wait = { timeout: 10_000, interval: 20 };

function verify(secret: string, request: ReceivedRequest): unknown {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': request.headers['webhook-id'] ?? '',
    'webhook-timestamp': request.headers['webhook-timestamp'] ?? '',
    'webhook-signature': request.headers['webhook-signature'] ?? '',
  });
}

describe.each(databaseTargets)('webhooks on $name', ({ name }) => {
  let simulator: Simulator;
  let server: TestServer;
  let receiver: Receiver;
  let producer: WebhookService;
  let admin: { authorization: string };
  const secretsSeen: string[] = [];

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    receiver = await startReceiver();
    server = await startTestServer({ target: name, simulator, env: FAST_WEBHOOKS });
    admin = { authorization: `Bearer ${server.adminToken}` };
    producer = producerFor(server.keyhaven);
  });
  afterEach(async () => {
    const list = await server.app.inject({ url: '/v1/webhooks', headers: admin });
    for (const endpoint of list.json<{ webhooks: { id: string }[] }>().webhooks) {
      await server.app.inject({ method: 'DELETE', url: `/v1/webhooks/${endpoint.id}`, headers: admin });
    }
  });
  afterAll(async () => {
    await producer?.close();
    await server?.close();
    await receiver?.close();
    await simulator?.close();
  });

  async function createEndpoint(body: Record<string, unknown>): Promise<CreatedEndpoint> {
    const response = await server.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: admin,
      payload: body,
    });
    expect(response.statusCode, response.body).toBe(201);
    const created = response.json<CreatedEndpoint>();
    secretsSeen.push(created.secret);
    return created;
  }

  async function deliveries(endpointId: string): Promise<Delivery[]> {
    const response = await server.app.inject({
      url: `/v1/webhooks/${endpointId}/deliveries`,
      headers: admin,
    });
    expect(response.statusCode).toBe(200);
    return response.json<{ deliveries: Delivery[] }>().deliveries;
  }

  async function settled(endpointId: string, count = 1): Promise<Delivery[]> {
    return vi.waitFor(async () => {
      const list = await deliveries(endpointId);
      expect(list).toHaveLength(count);
      expect(list.every((delivery) => delivery.status !== 'pending')).toBe(true);
      return list;
    }, wait);
  }

  it('admin only: a user token gets 404, no token 401', async () => {
    const minted = await server.app.inject({
      method: 'POST',
      url: '/v1/users/alice/tokens',
      headers: admin,
      payload: {},
    });
    const user = { authorization: `Bearer ${minted.json<{ token: string }>().token}` };
    for (const [method, url] of [
      ['GET', '/v1/webhooks'],
      ['POST', '/v1/webhooks'],
      ['GET', '/v1/webhooks/signing-secret'],
    ] as const) {
      const refused = await server.app.inject({
        method,
        url,
        headers: user,
        payload: { url: receiver.url() },
      });
      expect(refused.statusCode).toBe(404);
      expect(refused.json()).toMatchObject({ error: { code: 'not_found' } });
      expect((await server.app.inject({ method, url })).statusCode).toBe(401);
    }
  });

  it('documents the routes in the OpenAPI document, with how to verify per-job deliveries', async () => {
    const response = await server.app.inject({ url: '/openapi.json' });
    const document = response.json<{ paths: Record<string, Record<string, { description?: string }>> }>();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/webhooks',
        '/v1/webhooks/{id}',
        '/v1/webhooks/{id}/deliveries',
        '/v1/webhooks/{id}/rotate-secret',
        '/v1/webhooks/{id}/enable',
        '/v1/webhooks/deliveries',
        '/v1/webhooks/signing-secret',
        '/v1/webhooks/signing-secret/rotate',
      ]),
    );
    expect(Object.keys(document.paths['/v1/webhooks'] ?? {})).toEqual(
      expect.arrayContaining(['get', 'post']),
    );
    expect(document.paths['/v1/webhooks/signing-secret']?.get?.description).toContain('webhookUrl');
  });

  it('creates an endpoint with a whsec secret shown once, and checks its input', async () => {
    const created = await createEndpoint({ url: receiver.url('/created'), description: 'billing' });
    expect(created.id).toMatch(/^whk_[0-9a-f]{24}$/);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(created.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(created.events).toEqual(expect.arrayContaining(['video.succeeded', 'credential.invalid']));

    const listed = await server.app.inject({ url: '/v1/webhooks', headers: admin });
    expect(listed.json()).toMatchObject({
      webhooks: [{ id: created.id, url: created.url, description: 'billing' }],
    });
    const single = await server.app.inject({ url: `/v1/webhooks/${created.id}`, headers: admin });
    expect(single.statusCode).toBe(200);
    for (const body of [listed.body, single.body]) {
      expect(body).not.toContain(created.secret);
      expect(body).not.toContain(created.secret.slice(6));
      expect(body).not.toContain('secret');
    }

    for (const payload of [
      { url: 'ftp://example.com/hook' },
      { url: 'not a url' },
      { url: receiver.url(), events: ['video.exploded'] },
      { url: receiver.url(), events: [] },
      {},
    ]) {
      const refused = await server.app.inject({
        method: 'POST',
        url: '/v1/webhooks',
        headers: admin,
        payload,
      });
      expect(refused.statusCode, JSON.stringify(payload)).toBe(400);
      expect(refused.json()).toMatchObject({ error: { code: 'invalid_request' } });
    }
    const missing = await server.app.inject({
      method: 'DELETE',
      url: '/v1/webhooks/whk_000000000000000000000000',
      headers: admin,
    });
    expect(missing.statusCode).toBe(404);
  });

  it('delivers a signed event the standardwebhooks verifier accepts; tampering and other secrets fail', async () => {
    const first = await createEndpoint({ url: receiver.url('/signed') });
    const other = await createEndpoint({ url: receiver.url('/other') });
    await producer.emit({
      type: 'video.succeeded',
      userId: 'alice',
      data: { jobId: 'vid_0123', provider: 'runway', outputUrl: 'https://cdn.example/v.mp4' },
    });
    const [delivery] = await settled(first.id);
    expect(delivery).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      lastResponseStatus: 200,
      lastError: null,
      eventType: 'video.succeeded',
      userId: 'alice',
    });
    const [request] = receiver.requests('/signed');
    if (!request) throw new Error('nothing received');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['webhook-id']).toBe(delivery?.eventId);
    expect(verify(first.secret, request)).toEqual({
      type: 'video.succeeded',
      timestamp: expect.any(String),
      data: {
        jobId: 'vid_0123',
        provider: 'runway',
        outputUrl: 'https://cdn.example/v.mp4',
        userId: 'alice',
      },
    });

    const tampered = { ...request, body: request.body.replace('vid_0123', 'vid_9999') };
    expect(() => verify(first.secret, tampered)).toThrow(/signature/i);
    const otherId = { ...request, headers: { ...request.headers, 'webhook-id': 'evt_forged' } };
    expect(() => verify(first.secret, otherId)).toThrow(/signature/i);
    expect(() => verify(other.secret, request)).toThrow(/signature/i);
    // The other endpoint got the same event under its own secret.
    const [copy] = await vi.waitFor(() => {
      const received = receiver.requests('/other');
      expect(received).toHaveLength(1);
      return received;
    }, wait);
    if (!copy) throw new Error('nothing received');
    expect(copy.headers['webhook-id']).toBe(request.headers['webhook-id']);
    expect(verify(other.secret, copy)).toMatchObject({ type: 'video.succeeded' });
  });

  it('retries a receiver that answers 500 twice, with growing waits, then delivers', async () => {
    receiver.respond('/flaky', [500, 500, 200]);
    const endpoint = await createEndpoint({ url: receiver.url('/flaky') });
    await producer.emit({ type: 'video.failed', userId: 'bob', data: { jobId: 'vid_flaky' } });
    const [delivery] = await settled(endpoint.id);
    expect(delivery).toMatchObject({
      status: 'succeeded',
      attempts: 3,
      lastResponseStatus: 200,
      lastError: null,
    });
    expect(
      delivery?.history.map((attempt) => [attempt.attempt, attempt.responseStatus, attempt.error]),
    ).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 500, 'HTTP 500'],
      [3, 200, null],
    ]);
    const received = receiver.requests('/flaky');
    expect(received).toHaveLength(3);
    // One event id on every attempt (receivers deduplicate on it), each attempt signed afresh.
    expect(new Set(received.map((request) => request.headers['webhook-id'])).size).toBe(1);
    for (const request of received)
      expect(verify(endpoint.secret, request)).toMatchObject({ type: 'video.failed' });
    // Backoff: base 50 ms with equal jitter -> at least 25 ms, then at least 100 ms (4x).
    const [a, b, c] = received.map((request) => request.at) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(25);
    expect(c - b).toBeGreaterThanOrEqual(100);
  });

  it('counts attempts in the metrics by event type, target and outcome', async () => {
    receiver.respond('/metrics-hook', [500]);
    const endpoint = await createEndpoint({ url: receiver.url('/metrics-hook') });
    await producer.emit({ type: 'budget.exceeded', userId: 'mia', data: {} });
    await settled(endpoint.id);
    const metrics = await server.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(
      /keyhaven_webhook_attempts_total\{event="budget.exceeded",target="endpoint",outcome="retrying"\} 1/,
    );
    expect(metrics.body).toMatch(
      /keyhaven_webhook_attempts_total\{event="budget.exceeded",target="endpoint",outcome="delivered"\} 1/,
    );
    expect(metrics.body).not.toContain('mia');
  });

  it('marks a delivery failed after the maximum number of attempts', async () => {
    receiver.respond('/broken', () => 500);
    const endpoint = await createEndpoint({ url: receiver.url('/broken') });
    await producer.emit({ type: 'video.failed', userId: 'carol', data: { jobId: 'vid_broken' } });
    const [delivery] = await settled(endpoint.id);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: 3,
      lastResponseStatus: 500,
      lastError: 'HTTP 500',
      nextAttemptAt: null,
    });
    expect(delivery?.completedAt).not.toBeNull();
    expect(delivery?.history).toHaveLength(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests('/broken')).toHaveLength(3);
  });

  it('retries when the receiver is down (connection refused)', async () => {
    const endpoint = await createEndpoint({ url: `${await closedPortURL()}/down` });
    await producer.emit({ type: 'credential.invalid', userId: 'dave', data: { provider: 'openai' } });
    const [delivery] = await settled(endpoint.id);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 3, lastResponseStatus: null });
    expect(delivery?.history.map((attempt) => attempt.error)).toEqual([
      'connection refused (ECONNREFUSED)',
      'connection refused (ECONNREFUSED)',
      'connection refused (ECONNREFUSED)',
    ]);
  });

  it('does not follow redirects', async () => {
    const target = receiver.url('/redirect-target');
    receiver.respond('/redirecting', () => ({ status: 307, headers: { location: target } }));
    const endpoint = await createEndpoint({ url: receiver.url('/redirecting') });
    await producer.emit({ type: 'video.succeeded', userId: 'erin', data: {} });
    const [delivery] = await settled(endpoint.id);
    expect(delivery).toMatchObject({ status: 'failed', lastResponseStatus: 307 });
    expect(delivery?.lastError).toContain('redirects are not followed');
    expect(receiver.requests('/redirect-target')).toHaveLength(0);
  });

  it('a 410 Gone disables the endpoint: no more deliveries to it', async () => {
    receiver.respond('/gone', () => 410);
    const endpoint = await createEndpoint({ url: receiver.url('/gone') });
    await producer.emit({ type: 'video.succeeded', userId: 'fay', data: {} });
    const [delivery] = await settled(endpoint.id);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 1, lastResponseStatus: 410 });
    const single = await server.app.inject({ url: `/v1/webhooks/${endpoint.id}`, headers: admin });
    expect(single.json()).toMatchObject({ disabledReason: expect.stringContaining('410') });
    await producer.emit({ type: 'video.succeeded', userId: 'fay', data: {} });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await deliveries(endpoint.id)).toHaveLength(1);
    expect(receiver.requests('/gone')).toHaveLength(1);

    receiver.respond('/gone', () => 200);
    const enabled = await server.app.inject({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/enable`,
      headers: admin,
    });
    expect(enabled.json()).toMatchObject({ disabledAt: null, disabledReason: null });
    await producer.emit({ type: 'video.succeeded', userId: 'fay', data: {} });
    const after = await settled(endpoint.id, 2);
    expect(after[0]).toMatchObject({ status: 'succeeded' });
  });

  it("takes over a dead worker's delivery once its lease expires, and not before", async () => {
    const endpoint = await createEndpoint({ url: receiver.url('/lease') });
    const db = server.keyhaven.database.db;
    // A delivery a crashed worker claimed: its lease is live for another 400 ms.
    const queuedAt = Date.now();
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('webhook_events')
        .values({
          id: 'evt_000000000000000000000001',
          type: 'video.failed',
          user_id: 'sam',
          payload: JSON.stringify({ type: 'video.failed', timestamp: new Date().toISOString(), data: {} }),
          created_at: new Date(),
        })
        .execute();
      await trx
        .insertInto('webhook_deliveries')
        .values({
          id: 'whd_000000000000000000000001',
          event_id: 'evt_000000000000000000000001',
          endpoint_id: endpoint.id,
          url: null,
          status: 'pending',
          next_attempt_at: new Date(queuedAt - 1000),
          lease_owner: 'dead-worker',
          lease_expires_at: new Date(queuedAt + 400),
          created_at: new Date(),
          updated_at: new Date(),
        })
        .execute();
    });
    await vi.waitFor(() => expect(receiver.requests('/lease')).toHaveLength(1), wait);
    const [request] = receiver.requests('/lease');
    expect((request?.at ?? 0) - queuedAt).toBeGreaterThanOrEqual(380);
    expect(request?.headers['webhook-id']).toBe('evt_000000000000000000000001');
    expect(verify(endpoint.secret, request as ReceivedRequest)).toMatchObject({ type: 'video.failed' });
    const [delivery] = await settled(endpoint.id);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('delivers only the event types an endpoint subscribed to', async () => {
    const videos = await createEndpoint({ url: receiver.url('/videos-only'), events: ['video.succeeded'] });
    const everything = await createEndpoint({ url: receiver.url('/everything') });
    expect(videos.events).toEqual(['video.succeeded']);
    await producer.emit({ type: 'video.failed', userId: 'gus', data: { jobId: 'vid_a' } });
    await producer.emit({ type: 'video.succeeded', userId: 'gus', data: { jobId: 'vid_b' } });
    const all = await settled(everything.id, 2);
    expect(all.map((delivery) => delivery.eventType).sort()).toEqual(['video.failed', 'video.succeeded']);
    const filtered = await settled(videos.id, 1);
    expect(filtered.map((delivery) => delivery.eventType)).toEqual(['video.succeeded']);
    expect(receiver.requests('/videos-only').map((request) => JSON.parse(request.body).type)).toEqual([
      'video.succeeded',
    ]);
  });

  it('delivers to a per-job webhookUrl, signed with the server-wide signing secret', async () => {
    const endpoint = await createEndpoint({ url: receiver.url('/endpoint-for-job') });
    const signing = await server.app.inject({ url: '/v1/webhooks/signing-secret', headers: admin });
    expect(signing.statusCode).toBe(200);
    const { secret } = signing.json<{ secret: string }>();
    secretsSeen.push(secret);
    expect(secret).toMatch(/^whsec_/);
    // Stable until rotated.
    const again = await server.app.inject({ url: '/v1/webhooks/signing-secret', headers: admin });
    expect(again.json<{ secret: string }>().secret).toBe(secret);

    await producer.emit({
      type: 'video.succeeded',
      userId: 'hank',
      data: { jobId: 'vid_job' },
      webhookUrl: receiver.url('/job-hook?token=abc'),
    });
    const [request] = await vi.waitFor(() => {
      const received = receiver.requests('/job-hook?token=abc');
      expect(received).toHaveLength(1);
      return received;
    }, wait);
    if (!request) throw new Error('nothing received');
    expect(verify(secret, request)).toMatchObject({ type: 'video.succeeded', data: { jobId: 'vid_job' } });
    expect(() => verify(endpoint.secret, request)).toThrow(/signature/i);
    // The registered endpoint got the event too.
    await settled(endpoint.id);
    const jobLog = await vi.waitFor(async () => {
      const response = await server.app.inject({
        url: '/v1/webhooks/deliveries?target=job&userId=hank',
        headers: admin,
      });
      expect(response.statusCode).toBe(200);
      const list = response.json<{ deliveries: (Delivery & { url: string | null })[] }>().deliveries;
      expect(list[0]?.status).toBe('succeeded');
      return list;
    }, wait);
    expect(jobLog).toHaveLength(1);
    expect(jobLog[0]).toMatchObject({
      endpointId: null,
      url: receiver.url('/job-hook?token=abc'),
      attempts: 1,
    });

    const rotated = await server.app.inject({
      method: 'POST',
      url: '/v1/webhooks/signing-secret/rotate',
      headers: admin,
    });
    const newSecret = rotated.json<{ secret: string }>().secret;
    secretsSeen.push(newSecret);
    expect(newSecret).not.toBe(secret);
    await producer.emit({
      type: 'video.failed',
      userId: 'hank',
      data: {},
      webhookUrl: receiver.url('/job-hook-2'),
    });
    const [second] = await vi.waitFor(() => {
      const received = receiver.requests('/job-hook-2');
      expect(received).toHaveLength(1);
      return received;
    }, wait);
    if (!second) throw new Error('nothing received');
    expect(verify(newSecret, second)).toMatchObject({ type: 'video.failed' });
    expect(() => verify(secret, second)).toThrow(/signature/i);
  });

  it('rotating an endpoint secret shows the new one once; deliveries use it', async () => {
    const endpoint = await createEndpoint({ url: receiver.url('/rotated') });
    const rotated = await server.app.inject({
      method: 'POST',
      url: `/v1/webhooks/${endpoint.id}/rotate-secret`,
      headers: admin,
    });
    expect(rotated.statusCode).toBe(200);
    const { secret } = rotated.json<{ secret: string }>();
    secretsSeen.push(secret);
    expect(secret).not.toBe(endpoint.secret);
    await producer.emit({ type: 'budget.threshold', userId: 'ivy', data: { percent: 80 } });
    await settled(endpoint.id);
    const [request] = receiver.requests('/rotated');
    if (!request) throw new Error('nothing received');
    expect(verify(secret, request)).toMatchObject({ type: 'budget.threshold' });
    expect(() => verify(endpoint.secret, request)).toThrow(/signature/i);
  });

  it('emits credential.invalid when a credentials test finds a key newly invalid', async () => {
    const endpoint = await createEndpoint({
      url: receiver.url('/credentials'),
      events: ['credential.invalid'],
    });
    const stored = await server.app.inject({
      method: 'PUT',
      url: '/v1/users/jack/credentials/openai',
      headers: admin,
      payload: { credentials: { apiKey: 'sk-test-rejected-by-simulator' }, validate: false },
    });
    expect(stored.json()).toMatchObject({ status: 'unverified' });
    const tested = await server.app.inject({
      method: 'POST',
      url: '/v1/users/jack/credentials/openai/test',
      headers: admin,
    });
    expect(tested.json()).toMatchObject({ result: { status: 'invalid' }, summary: { status: 'invalid' } });
    const [delivery] = await settled(endpoint.id);
    expect(delivery).toMatchObject({ status: 'succeeded', eventType: 'credential.invalid', userId: 'jack' });
    const [request] = receiver.requests('/credentials');
    if (!request) throw new Error('nothing received');
    expect(verify(endpoint.secret, request)).toMatchObject({
      type: 'credential.invalid',
      data: { userId: 'jack', provider: 'openai', version: 1, source: 'test', reason: expect.any(String) },
    });
    expect(request.body).not.toContain('sk-test-rejected-by-simulator');

    // Already invalid: testing again tells nobody twice.
    await server.app.inject({
      method: 'POST',
      url: '/v1/users/jack/credentials/openai/test',
      headers: admin,
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await deliveries(endpoint.id)).toHaveLength(1);
  });

  it('never stores, lists or logs a secret in plaintext (text, hex and base64 scan)', async () => {
    await createEndpoint({ url: receiver.url('/scan') });
    const signing = await server.app.inject({ url: '/v1/webhooks/signing-secret', headers: admin });
    secretsSeen.push(signing.json<{ secret: string }>().secret);
    expect(secretsSeen.length).toBeGreaterThan(5);

    const db = server.keyhaven.database.db;
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = current_schema() and table_name like 'webhook%'`.execute(db);
    expect(tables.rows.map((row) => row.table_name).sort()).toEqual([
      'webhook_attempts',
      'webhook_deliveries',
      'webhook_endpoints',
      'webhook_events',
      'webhook_signing_secrets',
    ]);
    let dump = '';
    for (const { table_name } of tables.rows) {
      const rows = await sql<{
        row: string;
      }>`select t::text as row from ${sql.table(table_name)} as t`.execute(db);
      dump += rows.rows.map((row) => row.row).join('\n');
      const encoded = await sql<{ row: string }>`
        select encode(convert_to(t::text, 'UTF8'), 'base64') as row from ${sql.table(table_name)} as t`.execute(
        db,
      );
      dump += encoded.rows.map((row) => row.row).join('\n');
    }
    const endpointRows = await db.selectFrom('webhook_endpoints').select('secret').execute();
    expect(endpointRows.length).toBeGreaterThan(0);
    const haystacks = { database: dump.toLowerCase(), logs: server.logs().toLowerCase() };
    for (const secret of secretsSeen) {
      const raw = Buffer.from(secret.slice('whsec_'.length), 'base64');
      const forms = [
        secret,
        secret.slice('whsec_'.length),
        raw.toString('hex'),
        Buffer.from(secret).toString('hex'),
        Buffer.from(secret).toString('base64'),
        raw.toString('base64url'),
      ];
      for (const [where, haystack] of Object.entries(haystacks)) {
        for (const form of forms) expect(haystack.includes(form.toLowerCase()), `${where}`).toBe(false);
      }
    }
  });
});
