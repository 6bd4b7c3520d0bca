import { sql } from 'kysely';
import { expect } from 'vitest';
import type { Database } from '../../src/store/index.ts';

/**
 * Security test 20's checks: a canary secret must not appear in any of the encodings a leak could take,
 * anywhere a test looks (logs, responses, metrics, errors, every table of the database).
 */
export function canaryForms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [
    secret,
    bytes.toString('hex'),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    encodeURIComponent(secret),
    // A substring long enough to identify the key, in case something truncates it.
    secret.slice(4, 24),
  ];
}

export function expectNoCanary(canary: string, haystack: string, where: string): void {
  for (const form of canaryForms(canary)) {
    expect(haystack.includes(form), `${where} contains the canary (${form.length} chars)`).toBe(false);
    expect(
      haystack.toLowerCase().includes(form.toLowerCase()),
      `${where} contains the canary, case-folded`,
    ).toBe(false);
  }
}

/** Every table of the current schema, each row as text (bytea in hex); returns the table names. */
export async function expectNoCanaryInDatabase(
  canary: string,
  { db }: Pick<Database, 'db'>,
): Promise<string[]> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = current_schema()`.execute(db);
  for (const { table_name } of tables.rows) {
    const dump = await sql<{ row: string }>`select t::text as row from ${sql.table(table_name)} as t`.execute(
      db,
    );
    expectNoCanary(canary, dump.rows.map((row) => row.row).join('\n'), `table ${table_name}`);
  }
  return tables.rows.map((row) => row.table_name);
}
