/**
 * npm run bench:vault — measured in one run, each figure beside its baseline:
 * - reveal (warm caches, audit included) against bare AES-256-GCM decryptions of the same payload;
 * - stores per second on PGlite and, when a PostgreSQL URL is given, on PostgreSQL;
 * - data keys rewrapped per second for 10,000 users.
 * Usage: node bench/vault.ts [--postgres postgres://...] [--users 10000] [--seconds 3]
 * (DATABASE_URL or TEST_DATABASE_URL is used for PostgreSQL when --postgres is absent.)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { createLocalKms, generateMasterKey, parseMasterKeys } from '../src/crypto/index.ts';
import { type Database, openDatabase } from '../src/store/index.ts';
import { createVault } from '../src/vault/index.ts';
import { type BenchRow, writeResults } from './results.ts';

const API_KEY = `sk-test-${'b'.repeat(48)}`;
const v1 = `v1:${generateMasterKey()}`;
const v2 = `v2:${generateMasterKey()}`;

export interface VaultBenchOptions {
  /** Also measure on PostgreSQL (in its own schema, dropped at the end). */
  postgresUrl?: string | undefined;
  /** Data keys rewrapped. */
  users?: number;
  /** Seconds per timed measurement. */
  seconds?: number;
}

async function timed(fn: () => unknown | Promise<unknown>, durationMs: number): Promise<number> {
  const end = performance.now() + durationMs;
  let count = 0;
  const started = performance.now();
  while (performance.now() < end) {
    for (let index = 0; index < 100; index += 1) await fn();
    count += 100;
  }
  return count / ((performance.now() - started) / 1000);
}

function bareAesGcmPerSecond(durationMs: number): number {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const plaintext = Buffer.from(JSON.stringify({ apiKey: API_KEY }));
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  const end = performance.now() + durationMs;
  const started = performance.now();
  let count = 0;
  while (performance.now() < end) {
    for (let index = 0; index < 1000; index += 1) {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
      decipher.setAuthTag(tag);
      decipher.update(ciphertext);
      decipher.final();
    }
    count += 1000;
  }
  return count / ((performance.now() - started) / 1000);
}

async function open(
  kind: 'pglite' | 'postgres',
  postgresUrl: string | undefined,
): Promise<Database & { drop(): Promise<void> }> {
  if (kind === 'pglite') {
    const database = await openDatabase();
    return { ...database, drop: async () => {} };
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

async function benchDatabase(
  kind: 'pglite' | 'postgres',
  { postgresUrl, users = 10_000, seconds = 3 }: VaultBenchOptions,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const database = await open(kind, postgresUrl);
  const kms = createLocalKms(parseMasterKeys(v1));
  const vault = createVault({ db: database.db, kms });
  try {
    // Reveal with warm caches, against bare AES-GCM measured right before and after (mean of the two).
    await vault.store({
      userId: 'bench-user',
      provider: 'openai',
      credentials: { apiKey: API_KEY },
      validate: false,
    });
    await vault.reveal({ userId: 'bench-user', provider: 'openai', purpose: 'bench' });
    const before = bareAesGcmPerSecond(seconds * 500);
    const startedReveal = performance.now();
    let reveals = 0;
    const end = startedReveal + seconds * 1000;
    while (performance.now() < end) {
      for (let index = 0; index < 100; index += 1) {
        await vault.reveal({ userId: 'bench-user', provider: 'openai', purpose: 'bench' });
      }
      reveals += 100;
    }
    await vault.flush(); // every reveal's audit event is written inside the measured time
    const revealRate = reveals / ((performance.now() - startedReveal) / 1000);
    const after = bareAesGcmPerSecond(seconds * 500);
    const bare = (before + after) / 2;
    rows.push({
      group: 'vault',
      benchmark: 'reveal, warm cache, audited',
      database: kind,
      value: revealRate,
      unit: 'ops/s',
      baseline: bare,
      ratio: bare / revealRate,
      note: 'ratio = bare AES-256-GCM decrypt rate / reveal rate (lower is better)',
    });

    // Stores: sequential, and 8 at a time, each a new user (data key creation included).
    let next = 0;
    const sequential = await timed(
      () =>
        vault.store({
          userId: `store-${next++}`,
          provider: 'openai',
          credentials: { apiKey: API_KEY },
          validate: false,
        }),
      seconds * 1000,
    );
    rows.push({
      group: 'vault',
      benchmark: 'store, sequential',
      database: kind,
      value: sequential,
      unit: 'ops/s',
    });
    const concurrentEnd = performance.now() + seconds * 1000;
    const concurrentStart = performance.now();
    let concurrentCount = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() < concurrentEnd) {
          await vault.store({
            userId: `store-${next++}`,
            provider: 'anthropic',
            credentials: { apiKey: API_KEY },
            validate: false,
          });
          concurrentCount += 1;
        }
      }),
    );
    const concurrent = concurrentCount / ((performance.now() - concurrentStart) / 1000);
    rows.push({
      group: 'vault',
      benchmark: 'store, 8 concurrent',
      database: kind,
      value: concurrent,
      unit: 'ops/s',
      baseline: sequential,
      ratio: concurrent / sequential,
      note: 'ratio = concurrent / sequential',
    });

    // Rewrap: seed data keys for `users` users wrapped with v1, then rewrap them to v2.
    await sql`delete from data_keys`.execute(database.db);
    const batch = 1000;
    for (let start = 0; start < users; start += batch) {
      const values = [];
      for (let index = start; index < Math.min(users, start + batch); index += 1) {
        const userId = `rewrap-${index}`;
        const key = randomBytes(32);
        const { kekVersion, wrapped } = await kms.wrap(key, { tenant: 'default', userId, dekVersion: 1 });
        values.push({
          user_id: userId,
          version: 1,
          kek_version: kekVersion,
          wrapped_key: wrapped,
          updated_at: new Date(),
        });
      }
      await database.db.insertInto('data_keys').values(values).execute();
    }
    const rotated = createVault({ db: database.db, kms: createLocalKms(parseMasterKeys(`${v1},${v2}`)) });
    const rewrapStart = performance.now();
    const result = await rotated.rewrap({ batchSize: 500 });
    const rewrapSeconds = (performance.now() - rewrapStart) / 1000;
    await rotated.close();
    if (result.rewrapped !== users || result.failed.length > 0)
      throw new Error('rewrap did not rewrap every key');
    rows.push({
      group: 'vault',
      benchmark: `rewrap ${users} data keys`,
      database: kind,
      value: users / rewrapSeconds,
      unit: 'keys/s',
      note: `${rewrapSeconds.toFixed(2)} s in all`,
    });
  } finally {
    await vault.close();
    await database.close();
    await database.drop();
  }
  return rows;
}

/** Every vault figure, on PGlite and, when a PostgreSQL URL is given, on PostgreSQL. */
export async function benchVault(options: VaultBenchOptions = {}): Promise<BenchRow[]> {
  const rows = await benchDatabase('pglite', options);
  if (options.postgresUrl) rows.push(...(await benchDatabase('postgres', options)));
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      postgres: { type: 'string' },
      users: { type: 'string', default: '10000' },
      seconds: { type: 'string', default: '3' },
    },
  });
  const postgresUrl = values.postgres ?? process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!postgresUrl)
    console.warn(
      'no PostgreSQL URL (--postgres, DATABASE_URL or TEST_DATABASE_URL): PostgreSQL figures skipped',
    );
  const rows = await benchVault({
    postgresUrl,
    users: Number(values.users),
    seconds: Number(values.seconds),
  });
  writeResults('vault', {}, rows);
}
