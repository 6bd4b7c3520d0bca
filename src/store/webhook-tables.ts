import { type ColumnType, type Kysely, type Selectable, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Tables of the webhooks (src/webhooks): endpoints with their encrypted signing secrets, the server-wide
 * secret that signs per-job URLs, events (the exact body every attempt sends) and the delivery queue
 * with one row per attempt.
 */
export const webhookMigrations: Record<string, Migration> = {
  '0004_webhooks': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('url', 'text', (column) => column.notNull())
        // null: every event type, including types added later.
        .addColumn('event_types', 'jsonb')
        .addColumn('description', 'text')
        .addColumn('dek_version', 'integer', (column) => column.notNull())
        .addColumn('secret', 'bytea', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addColumn('disabled_at', 'timestamptz')
        .addColumn('disabled_reason', 'text')
        .execute();

      await db.schema
        .createTable('webhook_signing_secrets')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('dek_version', 'integer', (column) => column.notNull())
        .addColumn('secret', 'bytea', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .execute();

      await db.schema
        .createTable('webhook_events')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('type', 'text', (column) => column.notNull())
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('payload', 'text', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .execute();
      await db.schema
        .createIndex('webhook_events_user')
        .on('webhook_events')
        .columns(['user_id', 'created_at'])
        .execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (column) => column.primaryKey())
        .addColumn('event_id', 'text', (column) =>
          column.notNull().references('webhook_events.id').onDelete('cascade'),
        )
        .addColumn('endpoint_id', 'text', (column) =>
          column.references('webhook_endpoints.id').onDelete('cascade'),
        )
        // The per-job URL; endpoint deliveries read their endpoint's URL.
        .addColumn('url', 'text')
        .addColumn('status', 'text', (column) =>
          column.notNull().check(sql`status in ('pending', 'succeeded', 'failed')`),
        )
        .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'timestamptz')
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'timestamptz')
        .addColumn('last_response_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('last_attempt_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addColumn('completed_at', 'timestamptz')
        .addCheckConstraint('webhook_deliveries_has_target', sql`(endpoint_id is null) <> (url is null)`)
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .column('next_attempt_at')
        .where(sql.ref('status'), '=', 'pending')
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_endpoint')
        .on('webhook_deliveries')
        .columns(['endpoint_id', 'created_at'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_event')
        .on('webhook_deliveries')
        .column('event_id')
        .execute();

      await db.schema
        .createTable('webhook_attempts')
        .addColumn('delivery_id', 'text', (column) =>
          column.notNull().references('webhook_deliveries.id').onDelete('cascade'),
        )
        .addColumn('attempt', 'integer', (column) => column.notNull())
        .addColumn('started_at', 'timestamptz', (column) => column.notNull())
        .addColumn('duration_ms', 'integer', (column) => column.notNull())
        .addColumn('response_status', 'integer')
        .addColumn('error', 'text')
        .addPrimaryKeyConstraint('webhook_attempts_pkey', ['delivery_id', 'attempt'])
        .execute();
    },
  },
};

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  event_types: ColumnType<string[] | null, string | null, string | null>;
  description: string | null;
  dek_version: number;
  secret: Buffer;
  created_at: Timestamp;
  updated_at: Timestamp;
  disabled_at: Timestamp | null;
  disabled_reason: string | null;
}

export interface WebhookSigningSecretsTable {
  id: string;
  dek_version: number;
  secret: Buffer;
  created_at: Timestamp;
}

export interface WebhookEventsTable {
  id: string;
  type: string;
  user_id: string;
  payload: string;
  created_at: Timestamp;
}

export type WebhookDeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveriesTable {
  id: string;
  event_id: string;
  endpoint_id: string | null;
  url: string | null;
  status: WebhookDeliveryStatus;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp | null;
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
  last_response_status: number | null;
  last_error: string | null;
  last_attempt_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  completed_at: Timestamp | null;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  started_at: Timestamp;
  duration_ms: number;
  response_status: number | null;
  error: string | null;
}

export type WebhookTables = {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_signing_secrets: WebhookSigningSecretsTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
};

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
