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
    });
    db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  } else {
    kind = 'pglite';
    let location: string | undefined;
    if (dataDir) {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      location = join(dataDir, 'pgdata');
    }
    const pglite = await PGlite.create(location, { parsers: { [INT8_OID]: (value: string) => value } });
    db = new Kysely<Tables>({ dialect: new PGliteDialect({ pglite }) });
  }
  const database: Database = { db, kind, close: () => db.destroy() };
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
