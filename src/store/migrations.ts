import { type Kysely, sql } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import { budgetMigrations } from './budget-tables.ts';
import { usageMigrations } from './usage-tables.ts';
import { videoMigrations } from './video-tables.ts';
import { webhookMigrations } from './webhook-tables.ts';

/**
 * Schema migrations, in order. Kysely's Migrator runs them on start under an advisory lock, so two
 * processes starting at once on PostgreSQL apply each migration exactly once.
 */
const migrations: Record<string, Migration> = {
  '0001_vault': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('data_keys')
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('version', 'integer', (column) => column.notNull())
        .addColumn('kek_version', 'integer', (column) => column.notNull())
        .addColumn('wrapped_key', 'bytea', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('data_keys_pkey', ['user_id', 'version'])
        .execute();
      await db.schema.createIndex('data_keys_kek_version').on('data_keys').column('kek_version').execute();

      await db.schema
        .createTable('credentials')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('version', 'integer', (column) => column.notNull())
        .addColumn('dek_version', 'integer', (column) => column.notNull())
        .addColumn('secret', 'bytea', (column) => column.notNull())
        .addColumn('masked_key', 'text', (column) => column.notNull())
        .addColumn('fingerprint', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) =>
          column.notNull().check(sql`status in ('valid', 'invalid', 'unverified')`),
        )
        .addColumn('status_reason', 'text')
        .addColumn('is_current', 'boolean', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addColumn('last_validated_at', 'timestamptz')
        .addColumn('last_used_at', 'timestamptz')
        .addColumn('superseded_at', 'timestamptz')
        .addUniqueConstraint('credentials_user_provider_version', ['user_id', 'provider', 'version'])
        .execute();
      await db.schema
        .createIndex('credentials_one_current')
        .on('credentials')
        .columns(['user_id', 'provider'])
        .unique()
        .where(sql.ref('is_current'), '=', true)
        .execute();

      await db.schema
        .createTable('credential_references')
        .addColumn('credential_id', 'text', (column) =>
          column.notNull().references('credentials.id').onDelete('cascade'),
        )
        .addColumn('holder', 'text', (column) => column.notNull())
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('credential_references_pkey', ['credential_id', 'holder'])
        .execute();
      await db.schema
        .createIndex('credential_references_user')
        .on('credential_references')
        .column('user_id')
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('seq', 'bigint', (column) => column.primaryKey())
        .addColumn('occurred_at', 'timestamptz', (column) => column.notNull())
        .addColumn('action', 'text', (column) => column.notNull())
        .addColumn('actor', 'text', (column) => column.notNull())
        .addColumn('user_id', 'text')
        .addColumn('provider', 'text')
        .addColumn('credential_id', 'text')
        .addColumn('purpose', 'text')
        .addColumn('detail', 'jsonb', (column) => column.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('prev_hash', 'text', (column) => column.notNull())
        .addColumn('hash', 'text', (column) => column.notNull())
        .execute();
      await db.schema
        .createIndex('audit_events_user')
        .on('audit_events')
        .columns(['user_id', 'seq'])
        .execute();

      await db.schema
        .createTable('keyring_state')
        .addColumn('id', 'integer', (column) => column.primaryKey().check(sql`id = 1`))
        .addColumn('min_decrypt_version', 'integer', (column) =>
          column.notNull().check(sql`min_decrypt_version >= 1`),
        )
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
        .execute();
      await sql`insert into keyring_state (id, min_decrypt_version) values (1, 1)`.execute(db);
    },
  },
  // API tokens of the HTTP service, stored only as SHA-256 hashes of the high-entropy token text.
  '0002_tokens': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('kind', 'text', (column) => column.notNull().check(sql`kind in ('admin', 'user')`))
        .addColumn('user_id', 'text')
        .addColumn('token_hash', 'bytea', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull().defaultTo(sql`now()`))
        .addColumn('expires_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .addCheckConstraint('tokens_user_has_user_id', sql`kind = 'admin' or user_id is not null`)
        .execute();
      await db.schema.createIndex('tokens_user').on('tokens').columns(['user_id', 'id']).execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  // Kysely runs them in name order: 0003_videos, 0004_webhooks, 0005_usage, 0006_budgets, ...
  getMigrations: async () => ({
    ...migrations,
    ...videoMigrations,
    ...webhookMigrations,
    ...usageMigrations,
    ...budgetMigrations,
  }),
};
