import type { ColumnType, Generated, Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Tables of usage metering (src/usage). `usage_events` holds one row per call that reached a provider;
 * `usage_daily` holds per (user, UTC day, provider, model) sums, maintained in the same statement that
 * inserts the events, so summaries read a few rows per day instead of every event; `usage_rate_limits`
 * the last upstream rate-limit headroom seen per user and provider.
 */
export const usageMigrations: Record<string, Migration> = {
  '0005_usage': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('usage_events')
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('occurred_at', 'timestamptz', (column) => column.notNull())
        // Chosen by the meter when the event is recorded: a retried batch inserts nothing twice.
        .addColumn('id', 'uuid', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('model', 'text')
        .addColumn('credential_version', 'integer')
        .addColumn('request_id', 'text', (column) => column.notNull())
        .addColumn('route', 'text', (column) =>
          column.notNull().check(sql`route in ('passthrough', 'text', 'image', 'video')`),
        )
        .addColumn('input_tokens', 'integer', (column) => column.notNull().check(sql`input_tokens >= 0`))
        .addColumn('output_tokens', 'integer', (column) => column.notNull().check(sql`output_tokens >= 0`))
        .addColumn('cache_read_tokens', 'integer', (column) =>
          column.notNull().check(sql`cache_read_tokens >= 0`),
        )
        .addColumn('cache_write_tokens', 'integer', (column) =>
          column.notNull().check(sql`cache_write_tokens >= 0`),
        )
        .addColumn('reasoning_tokens', 'integer', (column) =>
          column.notNull().check(sql`reasoning_tokens >= 0`),
        )
        .addColumn('video_seconds', 'double precision', (column) =>
          column.notNull().check(sql`video_seconds >= 0`),
        )
        .addColumn('images', 'integer', (column) => column.notNull().check(sql`images >= 0`))
        .addColumn('resolution', 'text')
        // Integer micro-USD; null when the model (or a part of the usage) has no price. Never 0 for "unknown".
        .addColumn('cost_micro_usd', 'bigint', (column) => column.check(sql`cost_micro_usd >= 0`))
        .addColumn('price_version', 'text', (column) => column.notNull())
        .addColumn('status', 'integer', (column) => column.notNull())
        .addColumn('latency_ms', 'integer', (column) => column.notNull().check(sql`latency_ms >= 0`))
        .addColumn('aborted', 'boolean', (column) => column.notNull().defaultTo(false))
        .addPrimaryKeyConstraint('usage_events_pkey', ['user_id', 'occurred_at', 'id'])
        .execute();
      // Admin exports over every user walk events in time order.
      await db.schema
        .createIndex('usage_events_occurred_at')
        .on('usage_events')
        .column('occurred_at')
        .execute();

      await db.schema
        .createTable('usage_daily')
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('day', 'date', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        // '' when the event named no model: a key column cannot be null.
        .addColumn('model', 'text', (column) => column.notNull())
        .addColumn('requests', 'bigint', (column) => column.notNull())
        .addColumn('input_tokens', 'bigint', (column) => column.notNull())
        .addColumn('output_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cache_read_tokens', 'bigint', (column) => column.notNull())
        .addColumn('cache_write_tokens', 'bigint', (column) => column.notNull())
        .addColumn('reasoning_tokens', 'bigint', (column) => column.notNull())
        .addColumn('video_seconds', 'double precision', (column) => column.notNull())
        .addColumn('images', 'bigint', (column) => column.notNull())
        // Sum over the priced events only; the unpriced ones are counted apart.
        .addColumn('cost_micro_usd', 'bigint', (column) => column.notNull())
        .addColumn('unpriced_requests', 'bigint', (column) => column.notNull())
        .addPrimaryKeyConstraint('usage_daily_pkey', ['user_id', 'day', 'provider', 'model'])
        .execute();
      // Admin summaries over every user read a range of days.
      await db.schema.createIndex('usage_daily_day').on('usage_daily').column('day').execute();

      // The last rate-limit headroom a provider reported for a user's credential (one row per provider).
      await db.schema
        .createTable('usage_rate_limits')
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('credential_version', 'integer')
        .addColumn('observed_at', 'timestamptz', (column) => column.notNull())
        .addColumn('headroom', 'jsonb', (column) => column.notNull())
        .addPrimaryKeyConstraint('usage_rate_limits_pkey', ['user_id', 'provider'])
        .execute();
    },
  },
};

/** int8 columns come back as decimal strings from both drivers (see store/database.ts). */
type Int8 = ColumnType<string, string | number | bigint, string | number | bigint>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface UsageEventsTable {
  user_id: string;
  occurred_at: Timestamp;
  id: string;
  provider: string;
  model: string | null;
  credential_version: number | null;
  request_id: string;
  route: 'passthrough' | 'text' | 'image' | 'video';
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  video_seconds: number;
  images: number;
  resolution: string | null;
  cost_micro_usd: Int8 | null;
  price_version: string;
  status: number;
  latency_ms: number;
  aborted: Generated<boolean>;
}

export interface UsageDailyTable {
  user_id: string;
  /** 'YYYY-MM-DD' (UTC) when written; the drivers read a date back as a Date at UTC midnight or text. */
  day: ColumnType<Date | string, string, string>;
  provider: string;
  model: string;
  requests: Int8;
  input_tokens: Int8;
  output_tokens: Int8;
  cache_read_tokens: Int8;
  cache_write_tokens: Int8;
  reasoning_tokens: Int8;
  video_seconds: number;
  images: Int8;
  cost_micro_usd: Int8;
  unpriced_requests: Int8;
}

export interface UsageRateLimitsTable {
  user_id: string;
  provider: string;
  credential_version: number | null;
  observed_at: Timestamp;
  /** A RateLimitHeadroom (src/usage/rate-limit-headroom.ts): counts and reset times, never a secret. */
  headroom: ColumnType<Record<string, unknown>, string, string>;
}

export type UsageTables = {
  usage_events: UsageEventsTable;
  usage_daily: UsageDailyTable;
  usage_rate_limits: UsageRateLimitsTable;
};
