import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  databaseTargets,
  dropSchema,
  freshSchema,
  postgresUrl,
  type TestDatabase,
} from '../../test/support/databases.ts';
import { expectKeyhavenError, fakeApiKey, keyringValue, masterKeySet } from '../../test/support/vault.ts';
import { createLocalKms, parseMasterKeys } from '../crypto/index.ts';
import { createVault } from '../vault/index.ts';
import { migrateToLatest, openDatabase } from './index.ts';
import type { Tables } from './tables.ts';

const TABLES = [
  'audit_events',
  'budget_alerts',
  'budget_periods',
  'budget_reservations',
  'budgets',
  'credential_references',
  'credentials',
  'data_keys',
  'keyring_state',
  'tokens',
  'usage_daily',
  'usage_events',
  'usage_rate_limits',
  'video_attempts',
  'video_jobs',
  'webhook_attempts',
  'webhook_deliveries',
  'webhook_endpoints',
  'webhook_events',
  'webhook_signing_secrets',
];
const MIGRATIONS = [
  '0001_vault',
  '0002_tokens',
  '0003_videos',
  '0004_webhooks',
  '0005_usage',
  '0006_budgets',
];
const MIGRATION_TABLES = ['kysely_migration', 'kysely_migration_lock'];

async function tablesOf(db: Kysely<Tables>): Promise<string[]> {
  const result = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'
    order by table_name`.execute(db);
  return result.rows.map((row) => row.table_name);
}

async function migrationState(db: Kysely<Tables>) {
  const migrations = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  const keyring = await db.selectFrom('keyring_state').select(['id', 'min_decrypt_version']).execute();
  return { migrations: migrations.rows.map((row) => row.name), keyring };
}

async function withDatabase<T>(
  database: TestDatabase,
  run: (database: TestDatabase) => Promise<T>,
): Promise<T> {
  try {
    return await run(database);
  } finally {
    await database.close();
  }
}

describe.each(databaseTargets)('the store on $name', (target) => {
  it('creates the vault tables, and running the migrations again changes nothing', async () => {
    await withDatabase(await target.open(), async (database) => {
      expect(await tablesOf(database.db)).toEqual([...TABLES, ...MIGRATION_TABLES].sort());
      const state = await migrationState(database.db);
      expect(state).toEqual({
        migrations: MIGRATIONS,
        keyring: [{ id: 1, min_decrypt_version: 1 }],
      });
      await migrateToLatest(database.db, database.schema);
      await migrateToLatest(database.db, database.schema);
      expect(await tablesOf(database.db)).toEqual([...TABLES, ...MIGRATION_TABLES].sort());
      expect(await migrationState(database.db)).toEqual(state);
    });
  });

  it('opens without migrating when asked to, and migrates later', async () => {
    await withDatabase(await target.open({ migrate: false }), async (database) => {
      expect(await tablesOf(database.db)).toEqual([]);
      await migrateToLatest(database.db, database.schema);
      expect(await tablesOf(database.db)).toEqual([...TABLES, ...MIGRATION_TABLES].sort());
    });
  });

  it('returns bytea as bytes and int8 as decimal strings, and enforces the schema’s rules', async () => {
    await withDatabase(await target.open(), async (database) => {
      const { db } = database;
      const bytes = Buffer.from([0x00, 0xff, 0x10, 0x00, 0x7f, 0x80]);
      await db
        .insertInto('data_keys')
        .values({
          user_id: 'store-user',
          version: 1,
          kek_version: 1,
          wrapped_key: bytes,
          updated_at: new Date(),
        })
        .execute();
      const dataKey = await db.selectFrom('data_keys').selectAll().executeTakeFirstOrThrow();
      expect(Buffer.from(dataKey.wrapped_key).equals(bytes)).toBe(true);
      expect(dataKey.created_at).toBeInstanceOf(Date);

      const big = '9007199254740993';
      await db
        .insertInto('audit_events')
        .values({
          seq: big,
          occurred_at: new Date(),
          action: 'credential.store',
          actor: 'system',
          prev_hash: '0',
          hash: '1',
          detail: '{}',
        })
        .execute();
      const event = await db.selectFrom('audit_events').select(['seq', 'detail']).executeTakeFirstOrThrow();
      // A JavaScript number would have rounded this to ...992.
      expect(event).toEqual({ seq: big, detail: {} });

      const now = new Date();
      const credential = {
        user_id: 'store-user',
        provider: 'openai',
        dek_version: 1,
        secret: bytes,
        masked_key: '****',
        fingerprint: 'fp_0',
        status: 'valid' as const,
        is_current: true,
        created_at: now,
        updated_at: now,
      };
      await db
        .insertInto('credentials')
        .values({ ...credential, id: 'cred_a', version: 1 })
        .execute();
      // A second current version of the same user and provider is refused by the database itself.
      await expect(
        db
          .insertInto('credentials')
          .values({ ...credential, id: 'cred_b', version: 2 })
          .execute(),
      ).rejects.toThrow(/credentials_one_current/);
      // So is a repeated version number, and a status outside the three known ones.
      await expect(
        db
          .insertInto('credentials')
          .values({ ...credential, id: 'cred_c', version: 1, is_current: false })
          .execute(),
      ).rejects.toThrow(/credentials_user_provider_version/);
      await expect(
        sql`update credentials set status = 'revoked' where id = 'cred_a'`.execute(db),
      ).rejects.toThrow(/check/);
      await expect(
        sql`insert into keyring_state (id, min_decrypt_version) values (2, 1)`.execute(db),
      ).rejects.toThrow(/check/);
      await expect(sql`update keyring_state set min_decrypt_version = 0`.execute(db)).rejects.toThrow(
        /check/,
      );

      // References go with their credential.
      await db
        .insertInto('credential_references')
        .values({ credential_id: 'cred_a', holder: 'vid_1', user_id: 'store-user' })
        .execute();
      await expect(
        db
          .insertInto('credential_references')
          .values({ credential_id: 'cred_missing', holder: 'vid_1', user_id: 'store-user' })
          .execute(),
      ).rejects.toThrow(/foreign key/);
      await db.deleteFrom('credentials').where('id', '=', 'cred_a').execute();
      expect(await db.selectFrom('credential_references').selectAll().execute()).toEqual([]);
    });
  });
});

describe('opening databases', () => {
  it('refuses a schema name that is not a plain lower-case identifier, before connecting', async () => {
    for (const schema of [
      'public; drop table credentials',
      'Upper',
      '1abc',
      '',
      'a'.repeat(64),
      'with-dash',
    ]) {
      await expect(openDatabase({ databaseUrl: 'postgres://nowhere.invalid/none', schema })).rejects.toThrow(
        RangeError,
      );
    }
  });

  it.skipIf(!postgresUrl)(
    'on PostgreSQL, three processes opening the same fresh schema at once all succeed with one set of tables',
    async () => {
      const schema = freshSchema();
      try {
        const opened = await Promise.all(
          [0, 1, 2].map(() => openDatabase({ databaseUrl: postgresUrl, schema, poolSize: 2 })),
        );
        try {
          for (const database of opened) {
            expect(await tablesOf(database.db)).toEqual([...TABLES, ...MIGRATION_TABLES].sort());
            expect(await migrationState(database.db)).toEqual({
              migrations: MIGRATIONS,
              keyring: [{ id: 1, min_decrypt_version: 1 }],
            });
          }
        } finally {
          for (const database of opened) await database.close();
        }
      } finally {
        await dropSchema(schema);
      }
    },
  );

  it('keeps PGlite data in its data directory: a credential stored before a restart decrypts after it', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'keyhaven-store-'));
    const dataDir = join(parent, 'data');
    const keys = masterKeySet(1);
    const masterKeys = keyringValue(keys, [1]);
    const apiKey = fakeApiKey('persisted');
    try {
      const first = await openDatabase({ dataDir });
      expect(first.kind).toBe('pglite');
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      const writer = createVault({ db: first.db, kms: createLocalKms(parseMasterKeys(masterKeys)) });
      await writer.store({
        userId: 'persisted-user',
        provider: 'openai',
        credentials: { apiKey },
        validate: false,
      });
      await writer.reveal({ userId: 'persisted-user', provider: 'openai', purpose: 'proxy' });
      await writer.close();
      await first.close();

      const second = await openDatabase({ dataDir });
      try {
        const reader = createVault({ db: second.db, kms: createLocalKms(parseMasterKeys(masterKeys)) });
        const revealed = await reader.reveal({
          userId: 'persisted-user',
          provider: 'openai',
          purpose: 'proxy',
        });
        expect(revealed.credentials.apiKey?.reveal()).toBe(apiKey);
        // The reveal flushed at close before the restart is in the log, and the chain holds.
        await reader.close();
        const events = await reader.listAudit({ userId: 'persisted-user' });
        expect(events.map((event) => event.action)).toEqual([
          'credential.store',
          'credential.reveal',
          'credential.reveal',
        ]);
        expect((await reader.verifyAudit()).ok).toBe(true);
        // Another master key does not open it.
        const stranger = createVault({
          db: second.db,
          kms: createLocalKms(parseMasterKeys(keyringValue(masterKeySet(1), [1]))),
        });
        await expectKeyhavenError(
          () => stranger.reveal({ userId: 'persisted-user', provider: 'openai', purpose: 'proxy' }),
          'decryption_failed',
        );
        await stranger.close();
      } finally {
        await second.close();
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
