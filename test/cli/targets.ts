import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import { createKeyhaven, type Keyhaven } from '../../src/keyhaven.ts';
import { dropSchema, freshSchema, postgresUrl } from '../support/databases.ts';

/**
 * Where the CLI suites run the binary: a fresh embedded (PGlite) data directory, and a fresh PostgreSQL
 * schema too when TEST_DATABASE_URL is set. `env()` names the current one; `cleanup()` discards it.
 */
export interface Target {
  name: string;
  env(): Record<string, string>;
  cleanup(): Promise<void>;
}

export function targets(): Target[] {
  const list: Target[] = [];
  let dataDir = '';
  list.push({
    name: 'pglite',
    env() {
      dataDir ||= mkdtempSync(join(tmpdir(), 'keyhaven-cli-'));
      return { KEYHAVEN_DATA_DIR: dataDir };
    },
    async cleanup() {
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      dataDir = '';
    },
  });
  if (postgresUrl) {
    let schema = '';
    const url = postgresUrl;
    list.push({
      name: 'postgres',
      env() {
        schema ||= freshSchema();
        return { DATABASE_URL: url, KEYHAVEN_DATABASE_SCHEMA: schema };
      },
      async cleanup() {
        if (schema) await dropSchema(schema);
        schema = '';
      },
    });
  }
  return list;
}

/** Keyhaven in this process, on the same database as the binary (never while the binary runs on PGlite). */
export async function withKeyhaven<T>(
  env: Record<string, string>,
  run: (keyhaven: Keyhaven) => Promise<T>,
): Promise<T> {
  const keyhaven = await createKeyhaven({ config: loadConfig(env), warn: () => {} });
  try {
    return await run(keyhaven);
  } finally {
    await keyhaven.close();
  }
}
