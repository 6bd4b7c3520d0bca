import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs } from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPriceTable } from '../../src/providers/prices/index.ts';
import {
  createUsageStore,
  deleteUsageOf,
  rateLimitsOf,
  type UsageRecord,
  type UsageStoreOptions,
} from '../../src/usage/index.ts';
import { databaseTargets, type TestDatabase } from '../support/databases.ts';

/**
 * The usage store: cost per provider against figures worked out by hand, rollups against a recount of
 * the events, and writes that survive a failed flush without counting anything twice.
 */
const prices = createPriceTable();

let sequence = 0;
function usage(parts: Partial<UsageRecord> & Pick<UsageRecord, 'provider' | 'model'>): UsageRecord {
  sequence += 1;
  return {
    userId: 'alice',
    credentialVersion: 1,
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
    latencyMs: 120,
    occurredAt: new Date('2026-11-20T10:00:00Z'),
    ...parts,
  };
}

/**
 * Each record as the provider's adapter normalises it (providers/*-usage.ts, openai-chat.ts), the raw
 * counts in the comment, and the cost by hand (USD per million tokens = micro-USD per token).
 */
const PRICED: { name: string; record: UsageRecord; micro: number }[] = [
  {
    // OpenAI: prompt_tokens 2000 of which cached_tokens 1200; completion_tokens 500 of which reasoning 200.
    // 800 × 2.50 + 1200 × 1.25 + 500 × 10 = 2000 + 1500 + 5000 (reasoning is inside the 500, not added).
    name: 'openai gpt-4o with cache reads',
    record: usage({
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 800,
      cacheReadTokens: 1200,
      outputTokens: 500,
      reasoningTokens: 200,
    }),
    micro: 8500,
  },
  {
    // Anthropic: input_tokens 1000 (cache excluded), cache_creation 2000, cache_read 10000, output 300
    // (thinking 100 inside). 1000 × 3 + 2000 × 3.75 + 10000 × 0.30 + 300 × 15 = 3000 + 7500 + 3000 + 4500.
    name: 'anthropic claude-sonnet-4-5 with cache writes and reads',
    record: usage({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      inputTokens: 1000,
      cacheWriteTokens: 2000,
      cacheReadTokens: 10_000,
      outputTokens: 300,
      reasoningTokens: 100,
    }),
    micro: 18_000,
  },
  {
    // Gemini: promptTokenCount 1500 with cachedContentTokenCount 1000, candidates 200, thoughts 300.
    // 500 × 0.30 + 1000 × 0.03 + (200 + 300) × 2.50 = 150 + 30 + 1250.
    name: 'google-gemini gemini-2.5-flash with cache and thoughts',
    record: usage({
      provider: 'google-gemini',
      model: 'gemini-2.5-flash',
      inputTokens: 500,
      cacheReadTokens: 1000,
      outputTokens: 500,
      reasoningTokens: 300,
    }),
    micro: 1430,
  },
  {
    // Mistral: 4000 × 0.50 + 1000 × 1.50.
    name: 'mistral mistral-large-latest',
    record: usage({
      provider: 'mistral',
      model: 'mistral-large-latest',
      inputTokens: 4000,
      outputTokens: 1000,
    }),
    micro: 3500,
  },
  {
    // Veo 3.1: 8 s at 4k × 0.60 USD/s = 4.80 USD (the same 8 s at 720p would be 3.20).
    name: 'google-veo 8 s at 4k',
    record: usage({
      provider: 'google-veo',
      model: 'veo-3.1-generate-preview',
      route: 'video',
      videoSeconds: 8,
      resolution: '4k',
    }),
    micro: 4_800_000,
  },
  {
    name: 'google-veo fast 6 s at 720p',
    // 6 × 0.10 = 0.60 USD.
    record: usage({
      provider: 'google-veo',
      model: 'veo-3.1-fast-generate-preview',
      route: 'video',
      videoSeconds: 6,
      resolution: '720p',
    }),
    micro: 600_000,
  },
  {
    // Stability: 3 images × 0.065 USD.
    name: 'stability sd3.5-large, 3 images',
    record: usage({ provider: 'stability', model: 'sd3.5-large', route: 'image', images: 3 }),
    micro: 195_000,
  },
  {
    // Runway gen4_turbo: 5 s × 0.05 USD/s (5 credits a second at 0.01 USD) = 0.25 USD.
    name: 'runway gen4_turbo 5 s',
    record: usage({
      provider: 'runway',
      model: 'gen4_turbo',
      route: 'video',
      videoSeconds: 5,
      resolution: '720p',
    }),
    micro: 250_000,
  },
];

const UNPRICED: { name: string; record: UsageRecord }[] = [
  {
    name: 'luma ray-2 (no price in the table)',
    record: usage({ provider: 'luma', model: 'ray-2', route: 'video', videoSeconds: 5, resolution: '720p' }),
  },
  {
    name: 'an unknown openai model',
    record: usage({ provider: 'openai', model: 'gpt-9-turbo', inputTokens: 10 }),
  },
  {
    name: 'veo at a resolution without a price',
    record: usage({
      provider: 'google-veo',
      model: 'veo-3.1-generate-preview',
      route: 'video',
      videoSeconds: 8,
      resolution: '8k',
    }),
  },
  { name: 'a call that named no model', record: usage({ provider: 'openai', model: null, inputTokens: 5 }) },
];

/** Fails the next statement either before it runs or after it committed (the answer lost on the way). */
function flakyPlugin() {
  let mode: 'none' | 'before' | 'after' = 'none';
  const plugin: KyselyPlugin = {
    transformQuery(args: PluginTransformQueryArgs) {
      if (mode === 'before') {
        mode = 'none';
        throw new Error('connection refused (injected)');
      }
      return args.node;
    },
    async transformResult(args: PluginTransformResultArgs) {
      if (mode === 'after') {
        mode = 'none';
        throw new Error('connection reset after commit (injected)');
      }
      return args.result;
    },
  };
  return { plugin, failNext: (when: 'before' | 'after') => (mode = when) };
}

describe.each(databaseTargets)('usage store on $name', ({ name, open }) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database?.close();
  });
  beforeEach(async () => {
    await sql`delete from usage_events`.execute(database.db);
    await sql`delete from usage_daily`.execute(database.db);
    await sql`delete from usage_rate_limits`.execute(database.db);
  });

  async function storedCost(requestId: string): Promise<string | null> {
    const row = await database.db
      .selectFrom('usage_events')
      .select('cost_micro_usd')
      .where('request_id', '=', requestId)
      .executeTakeFirstOrThrow();
    return row.cost_micro_usd;
  }

  /**
   * The embedded database's COPY path (the general statement on PostgreSQL), counting its batches and
   * failures: a COPY that always failed would otherwise pass unseen, each batch rescued by the fallback.
   */
  function copyingStore(options: Partial<UsageStoreOptions> = {}) {
    const seen = { batches: 0, failed: 0 };
    const embedded = database.pglite;
    const pglite = embedded && {
      transaction: async <T>(work: Parameters<typeof embedded.transaction<T>>[0]) => {
        seen.batches += 1;
        try {
          return await embedded.transaction(work);
        } catch (error) {
          seen.failed += 1;
          throw error;
        }
      },
    };
    const store = createUsageStore({ db: database.db, pglite, prices, flushIntervalMs: 60_000, ...options });
    return { store, seen };
  }

  it('prices each provider as worked out by hand, and leaves unpriced calls null, never 0', async () => {
    const { store } = copyingStore();
    for (const { record } of [...PRICED, ...UNPRICED]) store.record(record);
    await store.close();
    for (const { name, record, micro } of PRICED) {
      expect(await storedCost(record.requestId), name).toBe(String(micro));
    }
    for (const { name, record } of UNPRICED) {
      expect(await storedCost(record.requestId), name).toBeNull();
    }
    const [day] = (
      await sql<{ requests: string; cost: string; unpriced: string; video: number; images: string }>`
        select sum(requests) as requests, sum(cost_micro_usd) as cost, sum(unpriced_requests) as unpriced,
          sum(video_seconds) as video, sum(images) as images
        from usage_daily where user_id = 'alice' and day = '2026-11-20'
      `.execute(database.db)
    ).rows;
    expect(day).toEqual({
      requests: '12',
      // 8500 + 18000 + 1430 + 3500 + 4800000 + 600000 + 195000 + 250000
      cost: '5876430',
      unpriced: '4',
      // 8 + 6 + 5 priced, 5 + 8 unpriced: seconds are counted whether or not they have a price.
      video: 32,
      images: '3',
    });
  });

  it('keeps rollups equal to a recount of the events, across days, users and batches', async () => {
    const { store, seen: copy } = copyingStore({ batchSize: 7 });
    const models = [
      ['openai', 'gpt-4o-mini'],
      ['anthropic', 'claude-haiku-4-5'],
      ['mistral', 'mistral-small-latest'],
      ['luma', 'ray-2'],
      ['openai', null],
    ] as const;
    let seed = 7;
    const random = (limit: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % limit;
    };
    const records: UsageRecord[] = [];
    for (let index = 0; index < 300; index += 1) {
      const [provider, model] = models[random(models.length)] ?? models[0];
      records.push(
        usage({
          userId: ['alice', 'bob', 'carol'][random(3)] ?? 'alice',
          provider,
          model,
          inputTokens: random(5000),
          outputTokens: random(2000),
          cacheReadTokens: random(3) === 0 ? random(4000) : 0,
          cacheWriteTokens: provider === 'anthropic' ? random(1000) : 0,
          videoSeconds: provider === 'luma' ? 5 : 0,
          // Around midnight UTC on purpose: 23:59:59.999 and 00:00:00.000 fall on different days.
          occurredAt: new Date(Date.UTC(2026, 10, 1 + random(4), random(2) === 0 ? 23 : 0, 59, 59, 999)),
        }),
      );
    }
    for (const record of records) store.record(record);
    await store.flush();
    expect(store.stats()).toMatchObject({ pending: 0, written: 300 });
    // On the embedded database every batch of 7 went in by COPY, none by the fallback.
    if (database.pglite) expect(copy).toEqual({ batches: 43, failed: 0 });

    const recount = await sql<Record<string, string>>`
      select user_id, to_char((occurred_at at time zone 'UTC')::date, 'YYYY-MM-DD') as day, provider,
        coalesce(model, '') as model, count(*)::text as requests, sum(input_tokens)::text as input_tokens,
        sum(output_tokens)::text as output_tokens, sum(cache_read_tokens)::text as cache_read_tokens,
        sum(cache_write_tokens)::text as cache_write_tokens, coalesce(sum(cost_micro_usd), 0)::text as cost,
        (count(*) filter (where cost_micro_usd is null))::text as unpriced
      from usage_events group by 1, 2, 3, 4 order by 1, 2, 3, 4
    `.execute(database.db);
    const rollups = await sql<Record<string, string>>`
      select user_id, to_char(day, 'YYYY-MM-DD') as day, provider, model, requests::text as requests,
        input_tokens::text as input_tokens, output_tokens::text as output_tokens,
        cache_read_tokens::text as cache_read_tokens, cache_write_tokens::text as cache_write_tokens,
        cost_micro_usd::text as cost, unpriced_requests::text as unpriced
      from usage_daily order by 1, 2, 3, 4
    `.execute(database.db);
    expect(rollups.rows).toEqual(recount.rows);

    // And against the records themselves, priced here independently of the database.
    const expectedCost = records.reduce((sum, record) => {
      const cost = record.model === null ? null : prices.cost(record.provider, record.model, record);
      return sum + (cost ?? 0);
    }, 0);
    const unpriced = records.filter(
      (record) => record.model === null || prices.cost(record.provider, record.model, record) === null,
    ).length;
    const [totals] = (
      await sql<{ cost: string; unpriced: string; requests: string }>`
        select sum(cost_micro_usd)::text as cost, sum(unpriced_requests)::text as unpriced,
          sum(requests)::text as requests from usage_daily
      `.execute(database.db)
    ).rows;
    expect(totals).toEqual({ cost: String(expectedCost), unpriced: String(unpriced), requests: '300' });
    expect(unpriced).toBeGreaterThan(0);
  });

  it('retries a failed flush without losing or double counting, even when the commit answer was lost', async () => {
    const flaky = flakyPlugin();
    const errors: string[] = [];
    const store = createUsageStore({
      db: database.db.withPlugin(flaky.plugin),
      prices,
      flushIntervalMs: 60_000,
      onError: (_error, message) => errors.push(message),
    });
    const first = usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 1000 }); // 2500 micro-USD
    store.record(first);
    flaky.failNext('before');
    await expect(store.flush()).rejects.toThrow(/injected/);
    expect(store.stats()).toMatchObject({ pending: 1, written: 0, failedFlushes: 1 });

    // The statement commits but its answer is lost: the store cannot know, so it writes the batch again.
    flaky.failNext('after');
    await expect(store.flush()).rejects.toThrow(/injected/);
    expect(store.stats().pending).toBe(1);
    store.record(usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 2000 })); // 5000 micro-USD
    await store.flush();
    await store.close();

    const [events] = (
      await sql<{ count: string }>`select count(*)::text as count from usage_events`.execute(database.db)
    ).rows;
    expect(events?.count).toBe('2');
    const [daily] = (
      await sql<{ requests: string; input: string; cost: string }>`
        select requests::text as requests, input_tokens::text as input, cost_micro_usd::text as cost
        from usage_daily
      `.execute(database.db)
    ).rows;
    expect(daily).toEqual({ requests: '2', input: '3000', cost: '7500' });
  });

  it('flushes in the background, and writes records that arrive after close', async () => {
    const { store } = copyingStore({ flushIntervalMs: 20 });
    store.record(usage({ provider: 'mistral', model: 'mistral-small-latest', inputTokens: 10 }));
    await expect.poll(() => store.stats().written, { timeout: 2000, interval: 20 }).toBe(1);
    await store.close();
    store.record(usage({ provider: 'mistral', model: 'mistral-small-latest', inputTokens: 10 }));
    await expect.poll(() => store.stats().written, { timeout: 2000, interval: 20 }).toBe(2);
  });

  it('stores text exactly, whatever characters it holds', async () => {
    const { store } = copyingStore();
    const awkward = ['NULL', '', 'a\\b{c},"d"', "it's", 'line\nbreak', 'ünï😀'];
    for (const [index, text] of awkward.entries()) {
      store.record(
        usage({ provider: 'openai', model: text, requestId: `odd-${index}-${text}`, resolution: text }),
      );
    }
    store.record(usage({ provider: 'openai', model: null, requestId: 'no-model' }));
    await store.close();
    const rows = await database.db
      .selectFrom('usage_events')
      .select(['model', 'request_id', 'resolution'])
      .orderBy('request_id')
      .execute();
    expect(rows).toEqual(
      [
        ...awkward.map((text, index) => ({
          model: text,
          request_id: `odd-${index}-${text}`,
          resolution: text,
        })),
        { model: null, request_id: 'no-model', resolution: null },
      ].sort((a, b) => (a.request_id < b.request_id ? -1 : 1)),
    );
  });

  it.runIf(name === 'pglite')(
    'writes the same events and rollups by COPY as by the general statement',
    async () => {
      const awkward = ['tab\there', 'line\nbreak\r\n', 'back\\slash\\N', '\\N', 'NULL', '', 'ünï😀', '\\.'];
      const records: UsageRecord[] = [];
      for (const [index, text] of awkward.entries()) {
        records.push(
          usage({ provider: 'openai', model: text, requestId: `odd-${index}-${text}`, resolution: text }),
          usage({ userId: text || 'empty', provider: 'openai', model: 'gpt-4o', requestId: `user-${index}` }),
        );
      }
      records.push(
        ...PRICED.map(({ record }) => record),
        ...UNPRICED.map(({ record }) => record),
        usage({ provider: 'luma', model: 'ray-2', videoSeconds: 0.1, requestId: 'video-a' }),
        usage({ provider: 'luma', model: 'ray-2', videoSeconds: 0.2, requestId: 'video-b' }),
        usage({ provider: 'openai', model: null, credentialVersion: null, status: 0, aborted: true }),
        usage({
          provider: 'openai',
          model: 'gpt-4o-mini',
          inputTokens: 2_147_483_647,
          outputTokens: 2_147_483_647,
          latencyMs: 0,
          occurredAt: new Date('2026-11-20T23:59:59.999Z'),
        }),
        usage({
          provider: 'openai',
          model: 'gpt-4o-mini',
          inputTokens: 2_147_483_647,
          occurredAt: new Date('2026-11-21T00:00:00.000Z'),
        }),
      );
      const snapshot = async () => {
        const events = await sql<Record<string, unknown>>`
        select user_id, occurred_at, provider, model, credential_version, request_id, route, input_tokens,
          output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, video_seconds, images,
          resolution, cost_micro_usd, price_version, status, latency_ms, aborted
        from usage_events order by request_id, user_id, occurred_at
      `.execute(database.db);
        const daily = await sql<Record<string, unknown>>`
        select * from usage_daily order by user_id, day, provider, model
      `.execute(database.db);
        return { events: events.rows, daily: daily.rows };
      };

      const statement = createUsageStore({ db: database.db, prices, flushIntervalMs: 60_000, batchSize: 9 });
      for (const record of records) statement.record(record);
      await statement.close();
      const byStatement = await snapshot();
      await sql`delete from usage_events`.execute(database.db);
      await sql`delete from usage_daily`.execute(database.db);

      const { store: copied, seen: copy } = copyingStore({ batchSize: 9 });
      for (const record of records) copied.record(record);
      await copied.close();
      expect(copy).toEqual({ batches: Math.ceil(records.length / 9), failed: 0 });
      const byCopy = await snapshot();
      expect(byCopy.events).toHaveLength(records.length);
      expect(byCopy).toEqual(byStatement);
      expect(byCopy.daily.find((row) => row.model === '\\N')).toMatchObject({ requests: '1' });
    },
  );

  it("deletes a user's usage, and only theirs", async () => {
    const { store } = copyingStore();
    store.record(usage({ userId: 'gone', provider: 'openai', model: 'gpt-4o', inputTokens: 1 }));
    store.record(usage({ userId: 'kept', provider: 'openai', model: 'gpt-4o', inputTokens: 1 }));
    store.observeRateLimits({
      userId: 'gone',
      provider: 'openai',
      credentialVersion: 1,
      headers: { 'x-ratelimit-remaining-requests': '1' },
    });
    await store.close();
    await deleteUsageOf(database.db, 'gone');
    const left = await sql<{ user_id: string; source: string }>`
      select user_id, 'events' as source from usage_events
      union all select user_id, 'daily' from usage_daily
      union all select user_id, 'rate limits' from usage_rate_limits
      order by 2, 1
    `.execute(database.db);
    expect(left.rows).toEqual([
      { user_id: 'kept', source: 'daily' },
      { user_id: 'kept', source: 'events' },
    ]);
  });

  const headers = (remaining: number) => ({
    'x-ratelimit-limit-requests': '100',
    'x-ratelimit-remaining-requests': String(remaining),
  });

  it('keeps the newest observation per user and provider, in memory and in the table', async () => {
    const { store } = copyingStore();
    const at = (second: number) => new Date(Date.UTC(2026, 10, 21, 12, 0, second));
    store.observeRateLimits({
      userId: 'alice',
      provider: 'openai',
      credentialVersion: 1,
      headers: headers(90),
      observedAt: at(10),
    });
    // Older than what is queued: ignored.
    store.observeRateLimits({
      userId: 'alice',
      provider: 'openai',
      credentialVersion: 1,
      headers: headers(95),
      observedAt: at(5),
    });
    store.observeRateLimits({
      userId: 'bob',
      provider: 'openai',
      credentialVersion: 3,
      headers: headers(10),
      observedAt: at(1),
    });
    await store.flush();
    // Older than what is stored (another instance was behind): the table keeps the newer figures.
    store.observeRateLimits({
      userId: 'alice',
      provider: 'openai',
      credentialVersion: 1,
      headers: headers(99),
      observedAt: at(2),
    });
    await store.flush();
    expect(await rateLimitsOf(database.db, 'alice')).toEqual([
      {
        provider: 'openai',
        credentialVersion: 1,
        observedAt: '2026-11-21T12:00:10.000Z',
        requests: { limit: 100, remaining: 90, resetAt: null },
      },
    ]);
    store.observeRateLimits({
      userId: 'alice',
      provider: 'openai',
      credentialVersion: 2,
      headers: headers(42),
      observedAt: at(30),
    });
    await store.close();
    expect(await rateLimitsOf(database.db, 'alice')).toMatchObject([
      { credentialVersion: 2, requests: { remaining: 42 } },
    ]);
    expect(await rateLimitsOf(database.db, 'bob')).toMatchObject([
      { credentialVersion: 3, requests: { remaining: 10 } },
    ]);
  });

  it('leaves out an event the database refuses without blocking the others', async () => {
    // A constraint only this test has: the database refuses one event of the batch for good.
    await sql`alter table usage_events add constraint test_refuse check (request_id <> 'refused')`.execute(
      database.db,
    );
    try {
      const errors: string[] = [];
      const { store, seen: copy } = copyingStore({ onError: (_error, message) => errors.push(message) });
      const kept = usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 1000, requestId: 'kept' });
      store.record(kept);
      store.record(usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 1000, requestId: 'refused' }));
      store.record(usage({ provider: 'openai', model: 'gpt\u0000-4o', requestId: 'nul', inputTokens: 1 }));
      await store.close();
      expect(store.stats()).toMatchObject({ pending: 0, written: 2, rejected: 1 });
      expect(errors).toEqual(['usage: the database refused an event of openai; left out']);
      // The batch's COPY was refused and rolled back whole; the general statement sorted it out.
      if (database.pglite) expect(copy).toEqual({ batches: 1, failed: 1 });
      const rows = await database.db
        .selectFrom('usage_events')
        .select(['request_id', 'model'])
        .orderBy('request_id')
        .execute();
      expect(rows.map((row) => row.request_id)).toEqual(['kept', 'nul']);
      expect(rows.find((row) => row.request_id === 'nul')?.model).toBe('gpt\uFFFD-4o');
      const [daily] = (
        await sql<{ requests: string; input: string }>`
          select sum(requests)::text as requests, sum(input_tokens)::text as input from usage_daily
        `.execute(database.db)
      ).rows;
      expect(daily).toEqual({ requests: '2', input: '1001' });
    } finally {
      await sql`alter table usage_events drop constraint test_refuse`.execute(database.db);
    }
  });

  it('refuses a malformed record instead of blocking its batch, and bounds the queue', async () => {
    const errors: string[] = [];
    const store = createUsageStore({
      db: database.db,
      prices,
      flushIntervalMs: 60_000,
      maxPending: 2,
      onError: (_error, message) => errors.push(message),
    });
    store.record(usage({ provider: 'openai', model: 'gpt-4o', inputTokens: -1 }));
    store.record(usage({ provider: 'openai', model: 'gpt-4o', outputTokens: Number.NaN }));
    store.record(usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 1 }));
    store.record(usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 2 }));
    store.record(usage({ provider: 'openai', model: 'gpt-4o', inputTokens: 3 }));
    expect(store.stats()).toMatchObject({ pending: 2, rejected: 2, dropped: 1 });
    expect(errors).toEqual(['usage: record refused', 'usage: record refused', 'usage: 1 events dropped']);
    await store.close();
    expect(store.stats()).toMatchObject({ pending: 0, written: 2 });
  });
});
