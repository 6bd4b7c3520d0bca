import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startProviderSimulator } from '../../src/simulator/index.ts';
import {
  createUsageStore,
  eventsCsv,
  type UsageMeter,
  type UsageRecord,
  type UsageStore,
} from '../../src/usage/index.ts';
import { databaseTargets } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The usage routes: summaries grouped by day, provider, model and user with figures worked out by hand,
 * range validation, ownership, CSV exports, and a graceful shutdown that loses no event.
 */
const NOW = new Date('2026-11-21T12:00:00Z');

let sequence = 0;
function usage(parts: Partial<UsageRecord> & Pick<UsageRecord, 'provider' | 'model' | 'occurredAt'>) {
  sequence += 1;
  return {
    userId: 'alice',
    credentialVersion: 2,
    requestId: `req_${sequence}`,
    route: 'passthrough',
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    videoSeconds: 0,
    images: 0,
    status: 200,
    latencyMs: 80,
    ...parts,
  } satisfies UsageRecord;
}

const at = (text: string) => new Date(text);

/** Costs by hand (micro-USD): see each line. */
const SEED: UsageRecord[] = [
  // 1000 × 2.5 + 100 × 10 = 3500
  usage({
    provider: 'openai',
    model: 'gpt-4o',
    inputTokens: 1000,
    outputTokens: 100,
    occurredAt: at('2026-11-19T08:00:00Z'),
  }),
  // 100 × 1 + 1000 × 0.1 + 200 × 1.25 + 50 × 5 = 700 (the 20 reasoning tokens are inside the 50)
  usage({
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    inputTokens: 100,
    cacheReadTokens: 1000,
    cacheWriteTokens: 200,
    outputTokens: 50,
    reasoningTokens: 20,
    occurredAt: at('2026-11-19T23:59:59.999Z'),
  }),
  // 2000 × 2.5 + 400 × 1.25 = 5500
  usage({
    provider: 'openai',
    model: 'gpt-4o',
    inputTokens: 2000,
    cacheReadTokens: 400,
    occurredAt: at('2026-11-20T00:00:00Z'),
  }),
  // unpriced: null, counted in unpricedRequests
  usage({
    provider: 'luma',
    model: 'ray-2',
    route: 'video',
    videoSeconds: 5,
    resolution: '720p',
    occurredAt: at('2026-11-20T10:00:00Z'),
  }),
  // 2 × 0.03 USD = 60000
  usage({
    provider: 'stability',
    model: 'core',
    route: 'image',
    images: 2,
    occurredAt: at('2026-11-20T11:00:00Z'),
  }),
  // Outside [2026-11-18, 2026-11-21): 2500
  usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 1000, occurredAt: at('2026-11-15T09:00:00Z') }),
  // bob: 10000 × 0.1 + 1000 × 0.3 = 1300
  usage({
    userId: 'bob',
    provider: 'mistral',
    model: 'mistral-small-latest',
    inputTokens: 10_000,
    outputTokens: 1000,
    occurredAt: at('2026-11-20T15:00:00Z'),
  }),
  // A model id written to attack spreadsheets (and so unpriced), a request id with a comma and quotes.
  usage({
    userId: 'carol',
    provider: 'openai',
    model: '=HYPERLINK("http://evil.example","x")',
    requestId: 'req,"quoted"',
    status: 404,
    occurredAt: at('2026-11-20T16:00:00Z'),
  }),
];

const zero = {
  requests: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  videoSeconds: 0,
  images: 0,
  costUsd: 0,
  costMicroUsd: 0,
  unpricedRequests: 0,
};

/** A meter the server closes, forwarding to a store made once the server's database exists. */
function forwardingMeter(): UsageMeter & { target?: UsageStore } {
  const meter: UsageMeter & { target?: UsageStore } = {
    record: (record) => meter.target?.record(record),
    observeRateLimits: (observation) => meter.target?.observeRateLimits(observation),
    flush: async () => meter.target?.flush(),
    close: async () => meter.target?.close(),
  };
  return meter;
}

describe.each(databaseTargets)('usage routes on $name', ({ name }) => {
  let simulator: Simulator;
  let server: TestServer;
  let store: UsageStore;
  let bobToken: string;
  const meter = forwardingMeter();
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    server = await startTestServer({ target: name, simulator, clock: () => NOW, options: { usage: meter } });
    store = createUsageStore({
      db: server.keyhaven.database.db,
      prices: server.keyhaven.prices,
      flushIntervalMs: 60_000,
    });
    meter.target = store;
    for (const record of SEED) store.record(record);
    const minted = await server.app.inject({
      method: 'POST',
      url: '/v1/users/bob/tokens',
      headers: admin(),
      payload: { ttlSeconds: 600 },
    });
    bobToken = minted.json().token;
  });
  afterAll(async () => {
    await server?.close();
    await simulator?.close();
  });

  const get = (url: string, headers = admin()) => server.app.inject({ method: 'GET', url, headers });

  it("sums a user's days from the rollups (events still queued are flushed first)", async () => {
    const response = await get('/v1/users/alice/usage?from=2026-11-18&to=2026-11-21&groupBy=day');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      from: '2026-11-18',
      to: '2026-11-21',
      groupBy: 'day',
      totals: {
        requests: 5,
        inputTokens: 3100,
        outputTokens: 150,
        cachedTokens: 1600,
        cacheReadTokens: 1400,
        cacheWriteTokens: 200,
        reasoningTokens: 20,
        videoSeconds: 5,
        images: 2,
        costUsd: 0.0697,
        costMicroUsd: 69_700,
        unpricedRequests: 1,
      },
      groups: [
        {
          key: '2026-11-19',
          ...zero,
          requests: 2,
          inputTokens: 1100,
          outputTokens: 150,
          cachedTokens: 1200,
          cacheReadTokens: 1000,
          cacheWriteTokens: 200,
          reasoningTokens: 20,
          costUsd: 0.0042,
          costMicroUsd: 4200,
        },
        {
          key: '2026-11-20',
          ...zero,
          requests: 3,
          inputTokens: 2000,
          cachedTokens: 400,
          cacheReadTokens: 400,
          videoSeconds: 5,
          images: 2,
          costUsd: 0.0655,
          costMicroUsd: 65_500,
          unpricedRequests: 1,
        },
      ],
    });
  });

  it('groups by provider and by model', async () => {
    const byProvider = (
      await get('/v1/users/alice/usage?from=2026-11-18&to=2026-11-21&groupBy=provider')
    ).json();
    expect(
      byProvider.groups.map((group: Record<string, unknown>) => [
        group.key,
        group.requests,
        group.costMicroUsd,
        group.unpricedRequests,
      ]),
    ).toEqual([
      ['anthropic', 1, 700, 0],
      ['luma', 1, 0, 1],
      ['openai', 2, 9000, 0],
      ['stability', 1, 60_000, 0],
    ]);
    const byModel = (await get('/v1/users/alice/usage?from=2026-11-18&to=2026-11-21&groupBy=model')).json();
    expect(
      byModel.groups.map((group: Record<string, unknown>) => [group.key, group.provider, group.costMicroUsd]),
    ).toEqual([
      ['claude-haiku-4-5', 'anthropic', 700],
      ['core', 'stability', 60_000],
      ['gpt-4o', 'openai', 9000],
      ['ray-2', 'luma', 0],
    ]);
    expect(byModel.totals.costMicroUsd).toBe(69_700);
  });

  it('defaults to the 30 days up to and including today', async () => {
    const response = (await get('/v1/users/alice/usage')).json();
    expect(response).toMatchObject({ from: '2026-10-23', to: '2026-11-22', groupBy: 'day' });
    expect(response.totals).toMatchObject({ requests: 6, costMicroUsd: 72_200 });
  });

  it('groups every user for the admin, and filters one', async () => {
    const byUser = (await get('/v1/usage?from=2026-11-18&to=2026-11-21&groupBy=user')).json();
    expect(
      byUser.groups.map((group: Record<string, unknown>) => [group.key, group.requests, group.costMicroUsd]),
    ).toEqual([
      ['alice', 5, 69_700],
      ['bob', 1, 1300],
      ['carol', 1, 0],
    ]);
    expect(byUser.totals).toMatchObject({
      requests: 7,
      costMicroUsd: 71_000,
      costUsd: 0.071,
      unpricedRequests: 2,
    });
    const bob = (await get('/v1/usage?from=2026-11-18&to=2026-11-21&groupBy=provider&userId=bob')).json();
    expect(bob.groups).toEqual([
      {
        key: 'mistral',
        ...zero,
        requests: 1,
        inputTokens: 10_000,
        outputTokens: 1000,
        costUsd: 0.0013,
        costMicroUsd: 1300,
      },
    ]);
  });

  it('refuses bad ranges with 400 invalid_request', async () => {
    for (const query of [
      'from=2026-11-21&to=2026-11-21',
      'from=2026-11-22&to=2026-11-21',
      'from=2025-01-01&to=2026-11-21',
      'from=2026-02-30&to=2026-03-02',
      'from=21-11-2026',
      'to=2026-11-21T00:00:00Z',
      'from=2026-11-30',
      'groupBy=user',
      'groupBy=week',
    ]) {
      const response = await get(`/v1/users/alice/usage?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.json().error.code, query).toBe('invalid_request');
    }
    const tooLong = await get('/v1/usage/events.csv?from=2025-01-01&to=2026-11-21');
    expect(tooLong.json().error.message).toMatch(/at most 366 days/);
  });

  it("answers 404 to another user's usage and to the admin views, 200 to a user's own", async () => {
    const bob = { authorization: `Bearer ${bobToken}` };
    for (const url of [
      '/v1/users/alice/usage',
      '/v1/users/alice/usage.csv',
      '/v1/users/alice/usage/events.csv',
      '/v1/users/alice/usage/rate-limits',
      '/v1/usage',
      '/v1/usage.csv',
      '/v1/usage/events.csv',
      '/v1/usage?groupBy=user',
    ]) {
      const response = await get(url, bob);
      expect(response.statusCode, url).toBe(404);
      expect(response.json().error.code, url).toBe('not_found');
    }
    const own = await get('/v1/users/bob/usage?from=2026-11-18&to=2026-11-21', bob);
    expect(own.statusCode).toBe(200);
    expect(own.json().totals.costMicroUsd).toBe(1300);
  });

  it('exports events as CSV: quoted, formula-safe, unpriced cost empty', async () => {
    const response = await get('/v1/usage/events.csv?from=2026-11-20&to=2026-11-21');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.headers['content-disposition']).toBe('attachment; filename="usage-events.csv"');
    const lines = response.body.split('\r\n');
    expect(lines[0]).toBe(
      'occurred_at,user_id,provider,model,credential_version,request_id,route,status,latency_ms,aborted,' +
        'input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,video_seconds,' +
        'images,resolution,cost_usd,priced,price_version',
    );
    expect(lines.at(-1)).toBe('');
    expect(lines).toHaveLength(1 + 5 + 1);
    const version = server.keyhaven.prices.version;
    expect(lines[1]).toBe(
      `2026-11-20T00:00:00.000000Z,alice,openai,gpt-4o,2,${SEED[2]?.requestId},passthrough,200,80,false,2000,0,400,0,0,0,0,,0.005500,true,${version}`,
    );
    expect(lines[2]).toBe(
      `2026-11-20T10:00:00.000000Z,alice,luma,ray-2,2,${SEED[3]?.requestId},video,200,80,false,0,0,0,0,0,5,0,720p,,false,${version}`,
    );
    expect(lines[5]).toBe(
      `2026-11-20T16:00:00.000000Z,carol,openai,"'=HYPERLINK(""http://evil.example"",""x"")",2,"req,""quoted""",passthrough,404,80,false,0,0,0,0,0,0,0,,,false,${version}`,
    );
    // A user's own export holds only their events.
    const own = await get('/v1/users/bob/usage/events.csv?from=2026-11-01&to=2026-11-21', {
      authorization: `Bearer ${bobToken}`,
    });
    expect(own.body.split('\r\n').filter((line) => line.includes(',bob,'))).toHaveLength(1);
    expect(own.body.split('\r\n')).toHaveLength(3);
  });

  it('pages through events by keyset, ties included, without a repeat or a gap', async () => {
    const tie = at('2026-11-10T12:00:00Z');
    for (let index = 0; index < 7; index += 1) {
      store.record(
        usage({ userId: index % 2 ? 'dave' : 'erin', provider: 'openai', model: 'gpt-4o', occurredAt: tie }),
      );
    }
    await store.flush();
    const read = async (query: Parameters<typeof eventsCsv>[1]) => {
      let text = '';
      for await (const chunk of eventsCsv(server.keyhaven.database.db, query, { pageSize: 2 })) text += chunk;
      return text.split('\r\n').slice(1, -1);
    };
    const everyone = await read({ from: '2026-11-10', to: '2026-11-11' });
    expect(everyone).toHaveLength(7);
    expect(new Set(everyone.map((line) => line.split(',')[5])).size).toBe(7);
    expect(await read({ from: '2026-11-10', to: '2026-11-11', userId: 'dave' })).toHaveLength(3);
  });

  it('exports a summary as CSV', async () => {
    const response = await get('/v1/users/alice/usage.csv?from=2026-11-18&to=2026-11-21&groupBy=model');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.body).toBe(
      [
        'model,provider,requests,input_tokens,output_tokens,cached_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,video_seconds,images,cost_usd,unpriced_requests',
        'claude-haiku-4-5,anthropic,1,100,50,1200,1000,200,20,0,0,0.000700,0',
        'core,stability,1,0,0,0,0,0,0,0,2,0.060000,0',
        'gpt-4o,openai,2,3000,100,400,400,0,0,0,0,0.009000,0',
        'ray-2,luma,1,0,0,0,0,0,0,5,0,0.000000,1',
        '',
      ].join('\r\n'),
    );
    const admin = await get('/v1/usage.csv?from=2026-11-18&to=2026-11-21&groupBy=user');
    expect(admin.body.split('\r\n')[0]?.startsWith('user_id,requests,')).toBe(true);
  });

  it("shows the last rate-limit headroom of the user's credentials", async () => {
    meter.observeRateLimits?.({
      userId: 'alice',
      provider: 'openai',
      credentialVersion: 2,
      headers: {
        'x-ratelimit-limit-requests': '5000',
        'x-ratelimit-remaining-requests': '4321',
        'x-ratelimit-reset-requests': '6m0s',
      },
      observedAt: at('2026-11-21T11:00:00Z'),
    });
    const response = await get('/v1/users/alice/usage/rate-limits');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      rateLimits: [
        {
          provider: 'openai',
          credentialVersion: 2,
          observedAt: '2026-11-21T11:00:00.000Z',
          requests: { limit: 5000, remaining: 4321, resetAt: '2026-11-21T11:06:00.000Z' },
        },
      ],
    });
    expect((await get('/v1/users/bob/usage/rate-limits')).json()).toEqual({ rateLimits: [] });
  });

  it("deletes a user's usage with the user, events still queued included, and nobody else's", async () => {
    const count = async (userId: string) =>
      (
        await sql<{ events: string; days: string }>`
          select (select count(*) from usage_events where user_id = ${userId})::text as events,
            (select count(*) from usage_daily where user_id = ${userId})::text as days
        `.execute(server.keyhaven.database.db)
      ).rows[0];
    await store.flush();
    const aliceBefore = await count('alice');
    meter.record(
      usage({ userId: 'gwen', provider: 'openai', model: 'gpt-4o', occurredAt: at('2026-11-20T09:00:00Z') }),
    );
    const refused = await server.app.inject({
      method: 'DELETE',
      url: '/v1/users/gwen',
      headers: { authorization: `Bearer ${bobToken}` },
    });
    expect(refused.statusCode).toBe(404);
    await store.flush();
    expect(await count('gwen')).toEqual({ events: '1', days: '1' });
    meter.record(
      usage({ userId: 'gwen', provider: 'openai', model: 'gpt-4o', occurredAt: at('2026-11-20T10:00:00Z') }),
    );
    const deleted = await server.app.inject({ method: 'DELETE', url: '/v1/users/gwen', headers: admin() });
    expect(deleted.statusCode).toBe(204);
    expect(await count('gwen')).toEqual({ events: '0', days: '0' });
    expect(await count('alice')).toEqual(aliceBefore);
  });

  // Last: it closes the server (afterAll's close is then a no-op for the app).
  it('writes every queued event when the server closes', async () => {
    await store.close();
    // No background write can happen before close: a long interval and batches larger than the queue.
    const queued = createUsageStore({
      db: server.keyhaven.database.db,
      prices: server.keyhaven.prices,
      flushIntervalMs: 600_000,
      batchSize: 10_000,
    });
    meter.target = queued;
    for (let index = 0; index < 2000; index += 1) {
      meter.record(
        usage({
          userId: 'frank',
          provider: 'openai',
          model: 'gpt-4o-mini',
          inputTokens: 1000,
          occurredAt: at('2026-11-21T01:00:00Z'),
        }),
      );
    }
    expect(queued.stats()).toMatchObject({ pending: 2000, written: 0 });
    await server.app.close();
    const [row] = (
      await sql<{ events: string; requests: string; cost: string }>`
        select (select count(*) from usage_events where user_id = 'frank')::text as events,
          sum(requests)::text as requests, sum(cost_micro_usd)::text as cost
        from usage_daily where user_id = 'frank'
      `.execute(server.keyhaven.database.db)
    ).rows;
    // 2000 × (1000 × 0.15) = 300000 micro-USD
    expect(row).toEqual({ events: '2000', requests: '2000', cost: '300000' });
  });
});
