/**
 * npm run bench:usage — measured in one run, each figure beside its baseline:
 * - a user's 90-day summary (groupBy day, provider, model) read from the daily rollups, against the same
 *   summary computed by scanning that user's raw events, and against a `select 1` round trip;
 * - ingest through the usage store (record -> batched insert + rollup upsert), in events per second.
 * Data: N events (default 1,000,000 on PostgreSQL, 100,000 on PGlite) for many users over 90 days, one
 * heavy user holding 10% of them, bulk-inserted with generate_series and rolled up in one statement.
 * Runs on PostgreSQL when --postgres, DATABASE_URL or TEST_DATABASE_URL is set (in its own schema, dropped
 * at the end); otherwise on PGlite in a temp folder with the smaller count.
 * Usage: node bench/usage.ts [--postgres postgres://...] [--events N] [--users 1000] [--runs 30]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { builtInPrices, createPriceTable } from '../src/providers/prices/index.ts';
import { type Database, openDatabase } from '../src/store/index.ts';
import {
  createUsageStore,
  type SummaryGroupBy,
  summarizeUsage,
  type UsageRecord,
} from '../src/usage/index.ts';
import { type BenchRow, writeResults } from './results.ts';

export interface UsageBenchOptions {
  /** Run on PostgreSQL (its own schema, dropped at the end) instead of an in-memory PGlite. */
  postgresUrl?: string | undefined;
  /** Events generated; default 1,000,000 on PostgreSQL, 100,000 on PGlite. */
  events?: number;
  users?: number;
  /** Timed runs per summary. */
  runs?: number;
  /** Events ingested through the usage store. */
  ingest?: number;
}

interface Settings {
  postgresUrl: string | undefined;
  totalEvents: number;
  users: number;
  runs: number;
  ingestEvents: number;
}

const DAYS = 90;
const HEAVY = 'bench-heavy';
// The window ends at the start of the day after the last generated event.
const TO = '2026-11-22';
const FROM = '2026-08-24'; // TO - 90 days

async function open(postgresUrl: string | undefined): Promise<Database & { drop(): Promise<void> }> {
  if (!postgresUrl) {
    // In a folder, as the server keeps it: in memory, PGlite's files are arrays copied whole as they grow,
    // which at this size costs more than the database's own work.
    const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-bench-usage-'));
    const database = await openDatabase({ dataDir });
    return { ...database, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const schema = `kh_bench_${randomBytes(4).toString('hex')}`;
  const database = await openDatabase({ databaseUrl: postgresUrl, schema });
  return {
    ...database,
    async drop() {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

/** The models the generated events use, with their prices from the table (luma ray-2: unpriced). */
const MODELS = [
  ['openai', 'gpt-4o'],
  ['openai', 'gpt-4o-mini'],
  ['openai', 'gpt-5'],
  ['anthropic', 'claude-sonnet-4-5'],
  ['anthropic', 'claude-haiku-4-5'],
  ['google-gemini', 'gemini-2.5-flash'],
  ['mistral', 'mistral-large-latest'],
  ['luma', 'ray-2'],
] as const;

function modelsValues() {
  return sql.join(
    MODELS.map(([provider, model], index) => {
      const price = builtInPrices[provider]?.[model];
      return sql`(${index}::int, ${provider}::text, ${model}::text, ${price?.inputPerMillion ?? null}::float8,
        ${price?.outputPerMillion ?? null}::float8, ${price?.cacheReadPerMillion ?? null}::float8)`;
    }),
  );
}

async function load(database: Database, { totalEvents, users }: Settings): Promise<number> {
  const started = performance.now();
  const chunk = 100_000;
  for (let first = 0; first < totalEvents; first += chunk) {
    const last = Math.min(totalEvents, first + chunk) - 1;
    // Event g: every 10th belongs to the heavy user, the rest spread over `users` users; its time is
    // spread over the 90 days; input/output/cache counts vary with g; the cost is priced like the store
    // does (null when the model has no price).
    await sql`
      with models (index, provider, model, input_price, output_price, cache_price) as (values ${modelsValues()}),
      generated as (
        select g,
          case when g % 10 = 0 then ${HEAVY} else 'bench-user-' || (g % ${users}) end as user_id,
          ${TO}::timestamptz - make_interval(secs => ((g * 7919) % (${DAYS} * 86400)) + 1) as occurred_at,
          abs(hashint8(g)::bigint) % ${MODELS.length} as model_index,
          100 + (g * 31) % 4000 as input_tokens,
          10 + (g * 17) % 1500 as output_tokens,
          case when g % 3 = 0 then (g * 13) % 2000 else 0 end as cache_read_tokens
        from generate_series(${first}::bigint, ${last}::bigint) as g
      )
      insert into usage_events (user_id, occurred_at, id, provider, model, credential_version, request_id,
        route, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
        video_seconds, images, resolution, cost_micro_usd, price_version, status, latency_ms, aborted)
      select generated.user_id, generated.occurred_at, gen_random_uuid(), models.provider, models.model, 1,
        'req_bench_' || g, 'passthrough', generated.input_tokens, generated.output_tokens,
        generated.cache_read_tokens, 0, 0, 0, 0, null,
        round(generated.input_tokens * models.input_price + generated.output_tokens * models.output_price
          + generated.cache_read_tokens * coalesce(models.cache_price, models.input_price))::bigint,
        'bench', 200, 50 + g % 900, false
      from generated join models on models.index = generated.model_index
    `.execute(database.db);
    process.stderr.write(`\rloaded ${(last + 1).toLocaleString('en-US')} events`);
  }
  process.stderr.write('\n');
  // The rollups, as the store maintains them, built in one pass for the bulk load.
  await sql`
    insert into usage_daily (user_id, day, provider, model, requests, input_tokens, output_tokens,
      cache_read_tokens, cache_write_tokens, reasoning_tokens, video_seconds, images, cost_micro_usd,
      unpriced_requests)
    select user_id, (occurred_at at time zone 'UTC')::date, provider, coalesce(model, ''), count(*),
      sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
      sum(reasoning_tokens), sum(video_seconds), sum(images), coalesce(sum(cost_micro_usd), 0),
      count(*) filter (where cost_micro_usd is null)
    from usage_events group by 1, 2, 3, 4
  `.execute(database.db);
  await sql`analyze usage_events`.execute(database.db);
  await sql`analyze usage_daily`.execute(database.db);
  return (performance.now() - started) / 1000;
}

/** The same summary as summarizeUsage, computed from the raw events of the range. */
async function rawSummary(database: Database, userId: string, groupBy: SummaryGroupBy) {
  const key = {
    day: sql`to_char((occurred_at at time zone 'UTC')::date, 'YYYY-MM-DD')`,
    provider: sql`provider`,
    model: sql`coalesce(model, '') || '|' || provider`,
    user: sql`user_id`,
  }[groupBy];
  const { rows: groups } = await sql<{ key: string; requests: string; cost: string; unpriced: string }>`
    select ${key} as key, count(*) as requests, coalesce(sum(cost_micro_usd), 0) as cost,
      count(*) filter (where cost_micro_usd is null) as unpriced,
      sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
      sum(cache_read_tokens) as cache_read_tokens, sum(cache_write_tokens) as cache_write_tokens,
      sum(reasoning_tokens) as reasoning_tokens, sum(video_seconds) as video_seconds, sum(images) as images
    from usage_events
    where user_id = ${userId}
      and occurred_at >= ${FROM}::date::timestamp at time zone 'UTC'
      and occurred_at < ${TO}::date::timestamp at time zone 'UTC'
    group by 1 order by 1
  `.execute(database.db);
  return groups;
}

async function measure(runs: number, fn: () => Promise<unknown>): Promise<{ median: number; p95: number }> {
  for (let index = 0; index < 3; index += 1) await fn(); // warm up: plans, caches
  const times: number[] = [];
  for (let index = 0; index < runs; index += 1) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    median: times[Math.floor(times.length / 2)] ?? 0,
    p95: times[Math.min(times.length - 1, Math.floor(times.length * 0.95))] ?? 0,
  };
}

/** `copy`: the embedded database's COPY path (the general statement otherwise, or always on PostgreSQL). */
async function ingest(database: Database, ingestEvents: number, copy: boolean): Promise<number> {
  const store = createUsageStore({
    db: database.db,
    pglite: copy ? database.pglite : undefined,
    prices: createPriceTable(),
    flushIntervalMs: 250,
  });
  const started = performance.now();
  for (let index = 0; index < ingestEvents; index += 1) {
    const [provider, model] = MODELS[index % MODELS.length] ?? MODELS[0];
    const record: UsageRecord = {
      userId: `ingest-user-${index % 500}`,
      provider,
      model,
      credentialVersion: 1,
      requestId: `req_ingest_${index}`,
      route: 'passthrough',
      inputTokens: 100 + (index % 4000),
      outputTokens: 10 + (index % 1500),
      cacheReadTokens: index % 3 === 0 ? index % 2000 : 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
      videoSeconds: 0,
      images: 0,
      status: 200,
      latencyMs: 100,
      occurredAt: new Date(Date.parse('2026-11-21T00:00:00Z') + (index % 86_400) * 1000),
    };
    store.record(record);
    // Let the background writer run, as it would between requests.
    if (index % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  await store.close();
  const seconds = (performance.now() - started) / 1000;
  if (store.stats().written !== ingestEvents) throw new Error('ingest lost events');
  return ingestEvents / seconds;
}

/** Every usage figure, on PostgreSQL when a URL is given, otherwise on an in-memory PGlite. */
export async function benchUsage(options: UsageBenchOptions = {}): Promise<{
  database: 'postgres' | 'pglite';
  events: number;
  rows: BenchRow[];
}> {
  const settings: Settings = {
    postgresUrl: options.postgresUrl,
    totalEvents: options.events ?? (options.postgresUrl ? 1_000_000 : 100_000),
    users: options.users ?? 1000,
    runs: options.runs ?? 30,
    ingestEvents: options.ingest ?? 50_000,
  };
  const kind = settings.postgresUrl ? 'postgres' : 'pglite';
  const rows: BenchRow[] = [];
  const database = await open(settings.postgresUrl);
  try {
    const loadSeconds = await load(database, settings);
    const [counts] = (
      await sql<{ events: string; rollups: string; users: string; heavy: string }>`
      select (select count(*) from usage_events) as events, (select count(*) from usage_daily) as rollups,
        (select count(distinct user_id) from usage_daily) as users,
        (select count(*) from usage_events where user_id = ${HEAVY}) as heavy
    `.execute(database.db)
    ).rows;
    if (!counts) throw new Error('no counts');
    const typical = 'bench-user-7';
    const [typicalCount] = (
      await sql<{
        count: string;
      }>`select count(*) as count from usage_events where user_id = ${typical}`.execute(database.db)
    ).rows;
    rows.push({
      group: 'usage',
      benchmark: `bulk load: ${Number(counts.events).toLocaleString('en-US')} events, ${Number(counts.users).toLocaleString('en-US')} users (one heavy), ${DAYS} days (rollups: ${Number(counts.rollups).toLocaleString('en-US')} rows)`,
      database: kind,
      value: Number(counts.events) / loadSeconds,
      unit: 'events/s',
      note: `${loadSeconds.toFixed(1)} s in all, generate_series + one rollup pass`,
    });

    const selectOne = await measure(settings.runs, () => sql`select 1`.execute(database.db));
    rows.push({
      group: 'usage',
      benchmark: 'select 1 round trip',
      database: kind,
      value: selectOne.median,
      unit: 'ms (median)',
    });

    for (const [label, userId, events] of [
      ['heavy user', HEAVY, Number(counts.heavy)],
      ['typical user', typical, Number(typicalCount?.count ?? 0)],
    ] as const) {
      for (const groupBy of ['day', 'provider', 'model'] as const) {
        // The two answers agree before either is timed.
        const fromRollups = await summarizeUsage(database.db, { userId, from: FROM, to: TO, groupBy });
        const fromEvents = await rawSummary(database, userId, groupBy);
        const rawRequests = fromEvents.reduce((sum, group) => sum + Number(group.requests), 0);
        const rawCost = fromEvents.reduce((sum, group) => sum + Number(group.cost), 0);
        if (
          fromRollups.totals.requests !== rawRequests ||
          fromRollups.totals.costMicroUsd !== rawCost ||
          fromRollups.groups.length !== fromEvents.length ||
          rawRequests !== events
        ) {
          throw new Error(`rollup and raw summaries disagree for ${userId} by ${groupBy}`);
        }
        const rollup = await measure(settings.runs, () =>
          summarizeUsage(database.db, { userId, from: FROM, to: TO, groupBy }),
        );
        const raw = await measure(settings.runs, () => rawSummary(database, userId, groupBy));
        rows.push({
          group: 'usage',
          benchmark: `${label} (${events.toLocaleString('en-US')} events), 90-day summary by ${groupBy}, rollups`,
          database: kind,
          value: rollup.median,
          unit: 'ms (median)',
          baseline: raw.median,
          baselineName: 'same summary scanning raw events',
          ratio: raw.median / rollup.median,
          note: `p95 ${rollup.p95.toFixed(2)} ms; raw scan p95 ${raw.p95.toFixed(2)} ms; ${(rollup.median / selectOne.median).toFixed(1)}x a select 1; ${fromRollups.groups.length} groups`,
        });
      }
    }

    const events = settings.ingestEvents.toLocaleString('en-US');
    const statementRate = await ingest(database, settings.ingestEvents, false);
    rows.push({
      group: 'usage',
      benchmark: `ingest through the usage store: ${events} events, record + batched insert + rollup upsert`,
      database: kind,
      value: statementRate,
      unit: 'events/s',
      note: 'batches of 500, one statement each',
    });
    if (database.pglite) {
      // What the embedded server does: COPY plus an upsert of sums, against the statement just measured.
      const copyRate = await ingest(database, settings.ingestEvents, true);
      rows.push({
        group: 'usage',
        benchmark: `ingest through the usage store: ${events} events, COPY + rollup upsert in one transaction`,
        database: kind,
        value: copyRate,
        unit: 'events/s',
        baseline: statementRate,
        baselineName: 'the one-statement batch (above)',
        ratio: copyRate / statementRate,
        note: 'batches of 500; the embedded database only',
      });
    }
  } finally {
    await database.close();
    await database.drop();
  }
  return { database: kind, events: settings.totalEvents, rows };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      postgres: { type: 'string' },
      events: { type: 'string' },
      users: { type: 'string', default: '1000' },
      runs: { type: 'string', default: '30' },
      ingest: { type: 'string', default: '50000' },
    },
  });
  const postgresUrl = values.postgres ?? process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  const result = await benchUsage({
    postgresUrl,
    ...(values.events ? { events: Number(values.events) } : {}),
    users: Number(values.users),
    runs: Number(values.runs),
    ingest: Number(values.ingest),
  });
  if (!postgresUrl) {
    console.warn(
      `no PostgreSQL URL (--postgres, DATABASE_URL or TEST_DATABASE_URL): ran on PGlite with ${result.events.toLocaleString('en-US')} events, not 1,000,000`,
    );
  }
  writeResults('usage', { database: result.database, events: result.events }, result.rows);
}
