import type { Transaction } from 'kysely';
import { sql } from 'kysely';
import pg from 'pg';
import type { Tables } from '../store/index.ts';

/**
 * Cache invalidation between instances. A write announces itself inside its own transaction with
 * pg_notify, which PostgreSQL delivers only on commit (never for a write that rolled back); every instance
 * LISTENs on one dedicated connection and drops what it cached for that user. While the listener is
 * disconnected, notices may be missed, so on reconnect every cache is dropped.
 * The embedded database is one process: there the in-process version does nothing.
 */
export type InvalidationMessage = { type: 'user'; userId: string; provider?: string } | { type: 'reset' };

export interface CacheInvalidation {
  /** Announces, within the write's transaction, that a user's cached entries are stale. */
  notify(trx: Transaction<Tables>, userId: string, provider?: string): Promise<void>;
  subscribe(handler: (message: InvalidationMessage) => void): void;
  close(): Promise<void>;
}

export function createLocalInvalidation(): CacheInvalidation {
  return { notify: async () => {}, subscribe: () => {}, close: async () => {} };
}

export interface PostgresInvalidationOptions {
  databaseUrl: string;
  /** Keyhaven's schema: deployments sharing a database in different schemas do not hear each other. */
  schema?: string;
  reconnectDelayMs?: number;
  onError?: (error: unknown) => void;
}

const payloadSchema = (value: unknown): InvalidationMessage | undefined => {
  if (!value || typeof value !== 'object') return undefined;
  const { userId, provider } = value as { userId?: unknown; provider?: unknown };
  if (typeof userId !== 'string') return undefined;
  return typeof provider === 'string' ? { type: 'user', userId, provider } : { type: 'user', userId };
};

export async function createPostgresInvalidation({
  databaseUrl,
  schema = 'public',
  reconnectDelayMs = 500,
  onError = () => {},
}: PostgresInvalidationOptions): Promise<CacheInvalidation> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new RangeError('schema must be a lower-case SQL identifier');
  const channel = `keyhaven_cache_${schema}`.slice(0, 63);
  const handlers: ((message: InvalidationMessage) => void)[] = [];
  const emit = (message: InvalidationMessage) => {
    for (const handler of handlers) handler(message);
  };
  let client: pg.Client | undefined;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: databaseUrl });
    next.on('notification', (notice) => {
      if (notice.channel !== channel || !notice.payload) return;
      try {
        const message = payloadSchema(JSON.parse(notice.payload));
        if (message) emit(message);
      } catch {
        // A malformed notice says nothing reliable: drop everything rather than keep a stale entry.
        emit({ type: 'reset' });
      }
    });
    const lost = (error?: unknown) => {
      if (client !== next) return;
      client = undefined;
      if (error) onError(error);
      next.end().catch(() => {});
      // Notices sent while disconnected are lost: forget everything cached, then listen again.
      emit({ type: 'reset' });
      schedule();
    };
    next.on('error', lost);
    next.on('end', () => lost());
    await next.connect();
    await next.query(`LISTEN "${channel}"`);
    client = next;
  };

  const schedule = () => {
    if (closed || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      connect().catch((error: unknown) => {
        onError(error);
        schedule();
      });
    }, reconnectDelayMs);
    reconnectTimer.unref();
  };

  await connect();
  return {
    async notify(trx, userId, provider) {
      const payload = JSON.stringify(provider === undefined ? { userId } : { userId, provider });
      await sql`select pg_notify(${channel}, ${payload})`.execute(trx);
    },
    subscribe(handler) {
      handlers.push(handler);
    },
    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}
