import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrationProvider } from './migrations.ts';
import type { Tables } from './tables.ts';

export type DatabaseKind = 'postgres' | 'pglite';

export interface Database {
  db: Kysely<Tables>;
  kind: DatabaseKind;
  /** The embedded database behind `db` (kind 'pglite'), for what Kysely cannot say (COPY from memory). */
  pglite?: PGlite;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; absent means the embedded PGlite database. */
  databaseUrl?: string;
  /** Where the embedded database lives; ignored with databaseUrl. Absent: in memory. */
  dataDir?: string;
  /** PostgreSQL schema to use (created when missing). Default: public. */
  schema?: string;
  poolSize?: number;
  migrate?: boolean;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// int8 columns (counts, audit sequence numbers) come back as decimal strings from both drivers.
const INT8_OID = 20;
pg.types.setTypeParser(INT8_OID, (value) => value);

export async function openDatabase({
  databaseUrl,
  dataDir,
  schema = 'public',
  poolSize = 10,
  migrate = true,
}: OpenDatabaseOptions = {}): Promise<Database> {
  if (!SCHEMA_NAME.test(schema)) throw new RangeError('schema must be a lower-case SQL identifier');
  let db: Kysely<Tables>;
  let kind: DatabaseKind;
  let pglite: PGlite | undefined;
  if (databaseUrl) {
    kind = 'postgres';
    if (schema !== 'public') {
      const setup = new pg.Client({ connectionString: databaseUrl });
      await setup.connect();
      try {
        await setup.query(`create schema if not exists ${schema}`);
      } catch (error) {
        // Two processes creating the same schema at once: the loser sees a unique violation.
        if ((error as { code?: string }).code !== '23505') throw error;
      } finally {
        await setup.end();
      }
    }
    const pool = new pg.Pool({
      connectionString: databaseUrl,
      max: poolSize,
      options: `-c search_path=${schema}`,
      // A database that does not answer fails the request (503) instead of holding it indefinitely.
      connectionTimeoutMillis: 5_000,
    });
    survivesLostConnections(pool);
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  } else {
    kind = 'pglite';
    let location: string | undefined;
    if (dataDir) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      location = join(dataDir, 'pgdata');
    }
    pglite = await PGlite.create(location, { parsers: { [INT8_OID]: (value: string) => value } });
    db = new Kysely<Tables>({ dialect: new PGliteDialect({ pglite }) });
  }
  const database: Database = { db, kind, ...(pglite ? { pglite } : {}), close: () => db.destroy() };
  if (migrate) {
    try {
      await migrateToLatest(db, schema);
    } catch (error) {
      await database.close();
      throw error;
    }
  }
  return database;
}

export async function migrateToLatest(db: Kysely<Tables>, schema = 'public'): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    migrationTableSchema: schema,
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error('database migration failed');
}

/**
 * A connection cut by a database restart must not crash the process. pg emits 'error' on the pool for
 * an idle client and on the client itself for one checked out between queries (Kysely holds one per
 * transaction); without listeners either is an uncaught exception. The failure still reaches callers
 * through their own queries, and the pool drops dead clients when they are released.
 */
export function survivesLostConnections(pool: pg.Pool): void {
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
]);
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Client was closed)/;

/**
 * Whether an error says the database could not be reached (down, restarting, connection cut), as opposed
 * to a query that failed: the first is worth a retry by the caller (503), the second is a bug (500).
 * SQLSTATE class 08 is a connection exception; 57P01-57P03 are shutdown and start-up.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code))
    )
      return true;
    if (UNAVAILABLE_MESSAGES.test(current.message)) return true;
    if (current instanceof AggregateError && current.errors.some((inner) => isDatabaseUnavailable(inner)))
      return true;
    current = current.cause;
  }
  return false;
}
