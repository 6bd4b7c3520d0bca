import { createHmac } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { AuditEventRow, Tables } from '../store/index.ts';

/**
 * The audit log: a keyed hash chain. Row n stores hash(n) = HMAC-SHA256 of its own canonical fields and
 * hash(n-1), with sequence numbers gapless from 1, so an altered or removed row breaks every hash after
 * it. The HMAC key derives from a data key wrapped by the master key: whoever can write to the database
 * but does not hold the master key cannot recompute the chain after an edit. Appends take one advisory lock so the chain stays linear across connections and processes.
 */
export type AuditAction =
  | 'credential.store'
  | 'credential.reject'
  | 'credential.reveal'
  | 'credential.validate'
  | 'credential.status'
  | 'credential.remove'
  | 'credential.purge'
  | 'user.shred'
  | 'keyring.rewrap'
  | 'keyring.min_decrypt_version';

export interface AuditEvent {
  action: AuditAction;
  actor: string;
  userId?: string | null;
  provider?: string | null;
  credentialId?: string | null;
  purpose?: string | null;
  detail?: Record<string, string | number | boolean | null>;
  occurredAt: Date;
}

export const GENESIS_HASH = '0'.repeat(64);
const AUDIT_LOCK = sql`pg_advisory_xact_lock(${sql.lit(0x4b48)}, ${sql.lit(1)})`;

type Executor = Kysely<Tables> | Transaction<Tables>;

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** Resolves the chain's HMAC key. Called before a transaction opens (PGlite has one connection). */
export type AuditKeySource = () => Promise<Buffer>;

export function hashAuditRow(
  key: Buffer,
  row: {
    seq: string;
    occurredAt: Date;
    action: string;
    actor: string;
    userId: string | null;
    provider: string | null;
    credentialId: string | null;
    purpose: string | null;
    detail: Record<string, unknown>;
    prevHash: string;
  },
): string {
  const fields = [
    row.seq,
    row.occurredAt.toISOString(),
    row.action,
    row.actor,
    row.userId,
    row.provider,
    row.credentialId,
    row.purpose,
    canonical(row.detail),
    row.prevHash,
  ];
  return createHmac('sha256', key).update(JSON.stringify(fields)).digest('hex');
}

/** Appends events in order. Must run inside a transaction: the lock lasts until it commits. */
export async function appendAuditEvents(
  trx: Transaction<Tables>,
  key: Buffer,
  events: readonly AuditEvent[],
): Promise<void> {
  if (events.length === 0) return;
  await sql`select ${AUDIT_LOCK}`.execute(trx);
  const last = await trx
    .selectFrom('audit_events')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  let seq = BigInt(String(last?.seq ?? 0));
  let prevHash = last?.hash ?? GENESIS_HASH;
  const rows = events.map((event) => {
    seq += 1n;
    const row = {
      seq: seq.toString(),
      occurredAt: event.occurredAt,
      action: event.action,
      actor: event.actor,
      userId: event.userId ?? null,
      provider: event.provider ?? null,
      credentialId: event.credentialId ?? null,
      purpose: event.purpose ?? null,
      detail: event.detail ?? {},
      prevHash,
    };
    const hash = hashAuditRow(key, row);
    prevHash = hash;
    return {
      seq: row.seq,
      occurred_at: row.occurredAt,
      action: row.action,
      actor: row.actor,
      user_id: row.userId,
      provider: row.provider,
      credential_id: row.credentialId,
      purpose: row.purpose,
      detail: JSON.stringify(row.detail),
      prev_hash: row.prevHash,
      hash,
    };
  });
  for (let index = 0; index < rows.length; index += 500) {
    await trx
      .insertInto('audit_events')
      .values(rows.slice(index, index + 500))
      .execute();
  }
}

export type AuditVerification =
  | { ok: true; count: number; headSeq: string | null; headHash: string }
  | { ok: false; count: number; brokenSeq: string; reason: string };

/** Walks the chain from the first row. Reports the first row whose link or hash does not hold. */
export async function verifyAuditLog(
  db: Executor,
  key: Buffer,
  { batchSize = 2000 } = {},
): Promise<AuditVerification> {
  let expectedSeq = 1n;
  let prevHash = GENESIS_HASH;
  let count = 0;
  for (;;) {
    const rows: AuditEventRow[] = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>=', expectedSeq.toString())
      .orderBy('seq')
      .limit(batchSize)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      // pg returns int8 as a string, PGlite as a number: hash and report the decimal string either way.
      const seqText = String(row.seq);
      const seq = BigInt(seqText);
      if (seq !== expectedSeq) {
        return {
          ok: false,
          count,
          brokenSeq: expectedSeq.toString(),
          reason: `row ${expectedSeq} is missing (next row is ${seqText})`,
        };
      }
      if (row.prev_hash !== prevHash) {
        return {
          ok: false,
          count,
          brokenSeq: seqText,
          reason: `row ${seqText} does not link to row ${seq - 1n}`,
        };
      }
      const expected = hashAuditRow(key, {
        seq: seqText,
        occurredAt: row.occurred_at,
        action: row.action,
        actor: row.actor,
        userId: row.user_id,
        provider: row.provider,
        credentialId: row.credential_id,
        purpose: row.purpose,
        detail: row.detail,
        prevHash: row.prev_hash,
      });
      if (expected !== row.hash) {
        return { ok: false, count, brokenSeq: seqText, reason: `row ${seqText} was altered (hash mismatch)` };
      }
      prevHash = row.hash;
      expectedSeq = seq + 1n;
      count += 1;
    }
  }
  return { ok: true, count, headSeq: count === 0 ? null : (expectedSeq - 1n).toString(), headHash: prevHash };
}

export interface AuditQuery {
  userId?: string;
  afterSeq?: string;
  limit?: number;
}

export async function listAuditEvents(db: Executor, { userId, afterSeq, limit = 100 }: AuditQuery = {}) {
  let query = db
    .selectFrom('audit_events')
    .selectAll()
    .orderBy('seq')
    .limit(Math.min(Math.max(limit, 1), 1000));
  if (userId) query = query.where('user_id', '=', userId);
  if (afterSeq) query = query.where('seq', '>', afterSeq);
  return query.execute();
}

export interface AuditQueue {
  push(event: AuditEvent): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly pending: number;
}

export interface AuditQueueOptions {
  db: Kysely<Tables>;
  key: AuditKeySource;
  /**
   * Runs in the flush transaction (e.g. last-used timestamps), before the events are appended: it takes
   * row locks, and every writer takes its row locks before the audit lock, or two of them deadlock.
   */
  afterAppend?: (trx: Transaction<Tables>, events: readonly AuditEvent[]) => Promise<void>;
  flushIntervalMs?: number;
  maxBatch?: number;
  /** Above this many unflushed events, push waits for a flush: reveals are never left unaudited. */
  maxPending?: number;
  onError?: (error: unknown) => void;
}

/**
 * Batches high-volume events (reveals) off the hot path: they are appended every flushIntervalMs or
 * every maxBatch events, whichever comes first, and on close. Identical events within one window (same
 * action, actor, user, provider, credential and purpose) become one row whose detail holds `count`,
 * `firstAt` and `lastAt`, so every access is accounted for without a row per request. A crash loses
 * at most the unflushed window; a failed flush keeps the events and retries.
 */
export function createAuditQueue({
  db,
  key,
  afterAppend,
  flushIntervalMs = 200,
  maxBatch = 500,
  maxPending = 10_000,
  onError = () => {},
}: AuditQueueOptions): AuditQueue {
  let queue: AuditEvent[] = [];
  // Pending events by identity, for coalescing; cleared when a flush takes the queue.
  const byIdentity = new Map<string, AuditEvent>();
  let inFlight: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const run = async () => {
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      const taken = new Set(batch);
      for (const [identity, event] of byIdentity) if (taken.has(event)) byIdentity.delete(identity);
      try {
        const chainKey = await key();
        await db.transaction().execute(async (trx) => {
          await afterAppend?.(trx, batch);
          await appendAuditEvents(trx, chainKey, batch);
        });
      } catch (error) {
        // Put the batch back in front (not coalesced further) so nothing is lost and order holds.
        queue = [...batch, ...queue];
        throw error;
      }
    }
  };

  const flush = (): Promise<void> => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (!inFlight) {
      inFlight = run().finally(() => {
        inFlight = undefined;
        if (queue.length > 0 && !closed) schedule();
      });
    }
    return inFlight;
  };

  const schedule = () => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      flush().catch(onError);
    }, flushIntervalMs);
    timer.unref();
  };

  return {
    async push(event) {
      if (closed) throw new Error('audit queue is closed');
      const identity = JSON.stringify([
        event.action,
        event.actor,
        event.userId ?? null,
        event.provider ?? null,
        event.credentialId ?? null,
        event.purpose ?? null,
      ]);
      const pending = byIdentity.get(identity);
      if (pending?.detail) {
        pending.detail.count = Number(pending.detail.count) + 1;
        pending.detail.lastAt = event.occurredAt.toISOString();
        pending.occurredAt = event.occurredAt;
        return;
      }
      const at = event.occurredAt.toISOString();
      const entry = { ...event, detail: { ...event.detail, count: 1, firstAt: at, lastAt: at } };
      byIdentity.set(identity, entry);
      queue.push(entry);
      if (queue.length >= maxPending) await flush();
      else if (queue.length >= maxBatch) flush().catch(onError);
      else schedule();
    },
    async flush() {
      while (queue.length > 0 || inFlight) await flush();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      while (queue.length > 0 || inFlight) await flush();
    },
    get pending() {
      return queue.length;
    },
  };
}
