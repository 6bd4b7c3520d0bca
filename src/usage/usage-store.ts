import { randomUUID } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import { type Kysely, sql } from 'kysely';
import type { PriceTable } from '../providers/prices/index.ts';
import type { Tables } from '../store/index.ts';
import {
  ADD_TO_ROLLUP,
  type BatchEvent,
  copyBatch,
  EVENT_COLUMNS,
  ROLLUP_COLUMNS,
} from './embedded-batch.ts';
import type { RateLimitObservation, UsageMeter, UsageRecord } from './meter.ts';
import { carriesRateLimitHeadroom, type HeaderSource, readRateLimitHeadroom } from './rate-limit-headroom.ts';

/**
 * The usage meter on the database. `record()` prices the call and queues it (no I/O on the caller's
 * path); a background flush writes the queue in batches, each batch one statement that inserts the
 * events and adds them to the daily rollups, so events and rollups never disagree (on the embedded
 * database, a COPY and an upsert in one transaction, falling back to that statement).
 *
 * Loss window on a crash: a graceful shutdown (close) writes everything. A process killed without one
 * loses what was still queued: at most `flushIntervalMs` (250 ms) of events, plus the batch being
 * written if its statement had not committed, plus, while the database is unreachable, everything queued
 * since the last successful write (bounded by `maxPending` events; beyond that new events are refused
 * and counted in `stats().dropped`). A committed batch is never written twice: every event carries an
 * id chosen here, a retried batch skips the events already stored, and only the events actually inserted
 * reach the rollups.
 */
export interface UsageStoreOptions {
  db: Kysely<Tables>;
  /** The embedded database behind `db`, when it is one: batches then go in by COPY (embedded-batch.ts). */
  pglite?: Pick<PGlite, 'transaction'> | undefined;
  prices: PriceTable;
  clock?: () => Date;
  flushIntervalMs?: number;
  /** Events per statement; a queue this long is flushed without waiting for the interval. */
  batchSize?: number;
  /** Events held in memory at most (while the database is unreachable). */
  maxPending?: number;
  /** Failed writes and refused records (never with secrets: usage holds none). */
  onError?: (error: unknown, message: string) => void;
}

export interface UsageStoreStats {
  pending: number;
  written: number;
  dropped: number;
  rejected: number;
  failedFlushes: number;
}

type PendingEvent = BatchEvent;

interface PendingHeadroom {
  userId: string;
  provider: string;
  credentialVersion: number | null;
  observedAt: Date;
  /** As the provider sent them: read when written, so a response costs a look-up, not a parse. */
  headers: HeaderSource;
}

/** Cost of one record in integer micro-USD, or null when it cannot be priced (unknown model or part). */
export function costOfRecord(prices: PriceTable, record: UsageRecord): number | null {
  if (record.model === null) return null;
  return prices.cost(
    record.provider,
    record.model,
    record,
    record.resolution === undefined ? {} : { resolution: record.resolution },
  );
}

const COUNTS = [
  'inputTokens',
  'outputTokens',
  'cacheReadTokens',
  'cacheWriteTokens',
  'reasoningTokens',
  'images',
  'latencyMs',
] as const;

const INT4_MAX = 2_147_483_647;

/** A record the database would refuse would block every batch it sits in: it is refused here instead. */
function invalidField(record: UsageRecord): string | undefined {
  for (const name of COUNTS) {
    const value = record[name];
    if (!Number.isSafeInteger(value) || value < 0 || value > INT4_MAX) return name;
  }
  if (!Number.isFinite(record.videoSeconds) || record.videoSeconds < 0) return 'videoSeconds';
  if (!Number.isInteger(record.status) || Math.abs(record.status) > INT4_MAX) return 'status';
  const version = record.credentialVersion;
  if (version !== null && (!Number.isInteger(version) || Math.abs(version) > INT4_MAX)) {
    return 'credentialVersion';
  }
  if (!(record.occurredAt instanceof Date) || Number.isNaN(record.occurredAt.getTime())) return 'occurredAt';
  if (typeof record.userId !== 'string' || record.userId === '') return 'userId';
  if (typeof record.provider !== 'string' || record.provider === '') return 'provider';
  if (!['passthrough', 'text', 'image', 'video'].includes(record.route)) return 'route';
  if (typeof record.requestId !== 'string') return 'requestId';
  if (record.model !== null && typeof record.model !== 'string') return 'model';
  return undefined;
}

/**
 * Text that came from a client (a model id in a passthrough body) is stored as it was, except what
 * PostgreSQL text cannot hold (NUL, replaced by U+FFFD) and beyond a sane length.
 */
function storableText(value: string, maxLength = 256): string {
  const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  return clean.length > maxLength ? clean.slice(0, maxLength) : clean;
}

function storable(record: UsageRecord): UsageRecord {
  return {
    ...record,
    userId: storableText(record.userId),
    provider: storableText(record.provider),
    model: record.model === null ? null : storableText(record.model),
    requestId: storableText(record.requestId),
    ...(record.resolution === undefined ? {} : { resolution: storableText(record.resolution, 32) }),
  };
}

/** PostgreSQL data exceptions (22xxx) and integrity violations (23xxx): retrying the same rows cannot help. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

export function createUsageStore({
  db,
  pglite,
  prices,
  clock = () => new Date(),
  flushIntervalMs = 250,
  batchSize = 500,
  maxPending = 100_000,
  onError = () => {},
}: UsageStoreOptions) {
  let pending: PendingEvent[] = [];
  // The last headroom per user and provider: only the newest observation is worth writing.
  const headroom = new Map<string, PendingHeadroom>();
  const headroomKey = (userId: string, provider: string) => `${userId}\u0000${provider}`;
  // One writer at a time: every flush is chained behind the previous one.
  let writing: Promise<void> = Promise.resolve();
  let busy = false;
  let closed = false;
  let retryAt = 0;
  let consecutiveFailures = 0;
  let soon: NodeJS.Immediate | undefined;
  const stats = { written: 0, dropped: 0, rejected: 0, failedFlushes: 0 };

  async function writeBatch(batch: PendingEvent[]): Promise<void> {
    if (pglite) {
      try {
        await copyBatch(pglite, db, batch, prices.version);
        return;
      } catch {
        // Rolled back whole: the general statement below sorts it out (or fails the same way).
      }
    }
    await writeStatement(batch);
  }

  async function writeStatement(batch: PendingEvent[]): Promise<void> {
    // One array per column (unnest): 20 parameters per statement whatever the batch size, so a batch
    // is parsed and planned as cheaply as one row.
    const column = <T>(pick: (event: PendingEvent) => T) => batch.map(pick);
    const rows = sql`
      select * from unnest(
        ${column((event) => event.record.userId)}::text[],
        ${column((event) => event.record.occurredAt.toISOString())}::timestamptz[],
        ${column((event) => event.id)}::uuid[],
        ${column((event) => event.record.provider)}::text[],
        ${column((event) => event.record.model)}::text[],
        ${column((event) => event.record.credentialVersion)}::integer[],
        ${column((event) => event.record.requestId)}::text[],
        ${column((event) => event.record.route)}::text[],
        ${column((event) => event.record.inputTokens)}::integer[],
        ${column((event) => event.record.outputTokens)}::integer[],
        ${column((event) => event.record.cacheReadTokens)}::integer[],
        ${column((event) => event.record.cacheWriteTokens)}::integer[],
        ${column((event) => event.record.reasoningTokens)}::integer[],
        ${column((event) => event.record.videoSeconds)}::double precision[],
        ${column((event) => event.record.images)}::integer[],
        ${column((event) => event.record.resolution ?? null)}::text[],
        ${column((event) => event.costMicroUsd)}::bigint[],
        ${column((event) => event.record.status)}::integer[],
        ${column((event) => event.record.latencyMs)}::integer[],
        ${column((event) => event.record.aborted ?? false)}::boolean[]
      ) as event (user_id, occurred_at, id, provider, model, credential_version, request_id, route,
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
        video_seconds, images, resolution, cost_micro_usd, status, latency_ms, aborted)`;
    // One statement, so one transaction: the events that were inserted (not those a retry finds already
    // stored) are summed per rollup key and added. Keys are sorted so that concurrent writers (several
    // instances) lock rollup rows in the same order and cannot deadlock.
    await sql`
      with inserted as (
        insert into usage_events (${sql.raw(EVENT_COLUMNS)})
        select user_id, occurred_at, id, provider, model, credential_version, request_id, route,
          input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
          video_seconds, images, resolution, cost_micro_usd, ${prices.version}, status, latency_ms, aborted
        from (${rows}) as batch
        on conflict do nothing
        returning user_id, occurred_at, provider, model, input_tokens, output_tokens, cache_read_tokens,
          cache_write_tokens, reasoning_tokens, video_seconds, images, cost_micro_usd
      )
      insert into usage_daily (${ROLLUP_COLUMNS})
      select user_id, (occurred_at at time zone 'UTC')::date, provider, coalesce(model, ''), count(*),
        sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
        sum(reasoning_tokens), sum(video_seconds), sum(images), coalesce(sum(cost_micro_usd), 0),
        count(*) filter (where cost_micro_usd is null)
      from inserted
      group by 1, 2, 3, 4
      order by 1, 2, 3, 4
      ${ADD_TO_ROLLUP}
    `.execute(db);
  }

  async function writeHeadroom(observed: PendingHeadroom[]): Promise<void> {
    const entries = observed.flatMap((entry) => {
      const headroom = readRateLimitHeadroom(entry.provider, entry.headers, entry.observedAt);
      return headroom ? [{ ...entry, headroom }] : [];
    });
    if (entries.length === 0) return;
    // An older observation (from another instance, or a retry) never replaces a newer one.
    await sql`
      insert into usage_rate_limits (user_id, provider, credential_version, observed_at, headroom)
      select * from unnest(
        ${entries.map((entry) => entry.userId)}::text[],
        ${entries.map((entry) => entry.provider)}::text[],
        ${entries.map((entry) => entry.credentialVersion)}::integer[],
        ${entries.map((entry) => entry.observedAt.toISOString())}::timestamptz[],
        ${entries.map((entry) => JSON.stringify(entry.headroom))}::jsonb[]
      )
      on conflict (user_id, provider) do update set
        credential_version = excluded.credential_version,
        observed_at = excluded.observed_at,
        headroom = excluded.headroom
      where excluded.observed_at >= usage_rate_limits.observed_at
    `.execute(db);
  }

  function keepNewest(entry: PendingHeadroom): void {
    const key = headroomKey(entry.userId, entry.provider);
    const current = headroom.get(key);
    if (!current || current.observedAt.getTime() <= entry.observedAt.getTime()) headroom.set(key, entry);
  }

  async function writeOneByOne(batch: PendingEvent[]): Promise<void> {
    for (const event of batch) {
      try {
        await writeStatement([event]);
        stats.written += 1;
      } catch (error) {
        if (!isDataError(error)) throw error;
        stats.rejected += 1;
        onError(error, `usage: the database refused an event of ${event.record.provider}; left out`);
      }
    }
  }

  /**
   * Writes the queue batch by batch, then the headroom. A failed batch stays at the front of the queue,
   * unchanged (same ids); failed headroom goes back unless something newer arrived meanwhile.
   */
  async function drain(): Promise<void> {
    busy = true;
    try {
      while (pending.length > 0) {
        const batch = pending.slice(0, batchSize);
        try {
          await writeBatch(batch);
          stats.written += batch.length;
        } catch (error) {
          if (!isDataError(error)) throw error;
          // Rows the database refuses would block every later write: each event is tried alone, and
          // the ones refused alone are reported and left out.
          await writeOneByOne(batch);
        }
        // Records queued meanwhile were appended: the written batch is still the head of the queue.
        pending = pending.slice(batch.length);
      }
      if (headroom.size > 0) {
        const entries = [...headroom.values()];
        headroom.clear();
        try {
          await writeHeadroom(entries);
        } catch (error) {
          for (const entry of entries) keepNewest(entry);
          throw error;
        }
      }
      consecutiveFailures = 0;
      retryAt = 0;
    } catch (error) {
      stats.failedFlushes += 1;
      consecutiveFailures += 1;
      // Back off up to 5 s so an unreachable database is not hammered; the queue keeps everything.
      retryAt = clock().getTime() + Math.min(5_000, flushIntervalMs * 2 ** consecutiveFailures);
      throw error;
    } finally {
      busy = false;
    }
  }

  function flush(): Promise<void> {
    const next = writing.then(drain, drain);
    writing = next.catch(() => {});
    return next;
  }

  function background(): void {
    if (busy || (pending.length === 0 && headroom.size === 0) || clock().getTime() < retryAt) return;
    flush().catch((error) => onError(error, `usage: writing ${pending.length} events failed; will retry`));
  }

  const timer = setInterval(background, flushIntervalMs);
  timer.unref();

  function record(usage: UsageRecord): void {
    const invalid = invalidField(usage);
    if (invalid !== undefined) {
      stats.rejected += 1;
      onError(new TypeError(`usage record refused: ${invalid} is invalid`), 'usage: record refused');
      return;
    }
    if (pending.length >= maxPending) {
      stats.dropped += 1;
      if (stats.dropped === 1 || stats.dropped % 1000 === 0) {
        onError(
          new Error(`usage queue full (${maxPending} events)`),
          `usage: ${stats.dropped} events dropped`,
        );
      }
      return;
    }
    const record = storable(usage);
    pending.push({ id: randomUUID(), record, costMicroUsd: costOfRecord(prices, record) });
    // A full batch, or anything arriving after close (the timer is stopped), is written right away.
    if ((pending.length >= batchSize || closed) && soon === undefined) {
      soon = setImmediate(() => {
        soon = undefined;
        if (closed) flush().catch((error) => onError(error, 'usage: writing after close failed'));
        else background();
      });
      soon.unref();
    }
  }

  function observeRateLimits({
    userId,
    provider,
    credentialVersion,
    headers,
    observedAt = clock(),
  }: RateLimitObservation): void {
    if (carriesRateLimitHeadroom(provider, headers))
      keepNewest({ userId, provider, credentialVersion, observedAt, headers });
  }

  async function close(): Promise<void> {
    closed = true;
    clearInterval(timer);
    // A graceful shutdown writes everything; a database that keeps failing gets three tries.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await flush();
        return;
      } catch (error) {
        if (attempt >= 3) {
          onError(error, `usage: ${pending.length} events could not be written at shutdown`);
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  return {
    record,
    observeRateLimits,
    flush,
    close,
    stats: (): UsageStoreStats => ({ pending: pending.length, ...stats }),
  } satisfies UsageMeter & Record<string, unknown>;
}

export type UsageStore = ReturnType<typeof createUsageStore>;
