import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Database, openDatabase } from '../../src/store/index.ts';

/**
 * The databases a suite runs on: the embedded PGlite always, PostgreSQL too when TEST_DATABASE_URL is
 * set. Each PostgreSQL database gets a fresh schema, dropped when the suite closes it.
 */
export interface DatabaseTarget {
  name: 'pglite' | 'postgres';
  open(options?: { schema?: string; dataDir?: string; migrate?: boolean }): Promise<TestDatabase>;
}

export interface TestDatabase extends Database {
  schema: string;
  databaseUrl?: string;
}

export const postgresUrl = process.env.TEST_DATABASE_URL;

export function freshSchema(): string {
  return `kh_test_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  if (!postgresUrl) return;
  const client = new pg.Client({ connectionString: postgresUrl });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}

const pglite: DatabaseTarget = {
  name: 'pglite',
  async open({ dataDir, migrate } = {}) {
    const database = await openDatabase({ dataDir, migrate });
    return { ...database, schema: 'public' };
  },
};

const postgres: DatabaseTarget = {
  name: 'postgres',
  async open({ schema = freshSchema(), migrate } = {}) {
    const database = await openDatabase({ databaseUrl: postgresUrl, schema, migrate });
    return {
      ...database,
      schema,
      databaseUrl: postgresUrl,
      async close() {
        await database.close();
        await dropSchema(schema);
      },
    };
  },
};

export const databaseTargets: DatabaseTarget[] = postgresUrl ? [pglite, postgres] : [pglite];
