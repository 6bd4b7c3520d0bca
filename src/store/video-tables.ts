import { type ColumnType, type Kysely, type Selectable, sql, type Updateable } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Tables of the video jobs (src/videos). `video_jobs` is also the work queue: a worker claims due rows
 * (`next_poll_at` passed, no live lease) with FOR UPDATE SKIP LOCKED and writes back only while its lease
 * holds. `video_attempts` has one row per provider actually tried, written as `submitting` before the
 * provider is called, so a crash between the two can never lead to a second submission.
 */
export const videoMigrations: Record<string, Migration> = {
  '0003_videos': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('video_jobs')
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('id', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) =>
          column.notNull().check(sql`status in ('queued', 'running', 'succeeded', 'failed', 'canceled')`),
        )
        // The request as given (prompt, image, ...), and the planned attempts with their pinned credentials.
        .addColumn('request', 'jsonb', (column) => column.notNull())
        .addColumn('plan', 'jsonb', (column) => column.notNull())
        // Index into plan of the attempt in progress (or the last one made).
        .addColumn('attempt_index', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('operation', 'text')
        .addColumn('outputs', 'jsonb')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('progress', 'real')
        // Seconds of video the provider reported generating (for usage).
        .addColumn('video_seconds', 'real')
        .addColumn('polls', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('poll_errors', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('webhook_url', 'text')
        .addColumn('metadata', 'jsonb')
        .addColumn('next_poll_at', 'timestamptz', (column) => column.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'timestamptz')
        // Set once the end of the job has been handled (references released, event emitted, usage recorded).
        .addColumn('finalized_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addColumn('completed_at', 'timestamptz')
        .addPrimaryKeyConstraint('video_jobs_pkey', ['user_id', 'id'])
        .execute();
      await db.schema
        .createIndex('video_jobs_user_created')
        .on('video_jobs')
        .columns(['user_id', 'created_at desc', 'id desc'])
        .execute();
      await db.schema
        .createIndex('video_jobs_due')
        .on('video_jobs')
        .column('next_poll_at')
        .where(sql.ref('finalized_at'), 'is', null)
        .execute();

      await db.schema
        .createTable('video_attempts')
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('job_id', 'text', (column) => column.notNull())
        .addColumn('attempt', 'integer', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('model', 'text', (column) => column.notNull())
        .addColumn('credential_id', 'text', (column) => column.notNull())
        .addColumn('credential_version', 'integer', (column) => column.notNull())
        .addColumn('status', 'text', (column) =>
          column.notNull().check(sql`status in ('submitting', 'running', 'succeeded', 'failed', 'canceled')`),
        )
        .addColumn('operation', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('started_at', 'timestamptz', (column) => column.notNull())
        .addColumn('ended_at', 'timestamptz')
        .addPrimaryKeyConstraint('video_attempts_pkey', ['user_id', 'job_id', 'attempt'])
        .addForeignKeyConstraint(
          'video_attempts_job',
          ['user_id', 'job_id'],
          'video_jobs',
          ['user_id', 'id'],
          (constraint) => constraint.onDelete('cascade'),
        )
        .execute();
    },
  },
};

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type VideoJobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export type VideoAttemptStatus = 'submitting' | 'running' | 'succeeded' | 'failed' | 'canceled';

/** One planned attempt, with the credential version pinned for it at submission. */
export interface StoredPlanEntry {
  provider: string;
  model: string;
  durationSeconds: number;
  resolution: string;
  aspectRatio: string;
  /** Integer micro-USD, or null when the model is unpriced. */
  estimatedCost: number | null;
  credentialId: string;
  credentialVersion: number;
}

export interface StoredVideoRequest {
  prompt: string;
  negativePrompt?: string;
  durationSeconds?: number;
  aspectRatio?: string;
  resolution?: string;
  seed?: number;
  image?: string;
  model?: string;
}

export interface StoredVideoOutput {
  url: string;
  mediaType?: string;
}

export interface VideoJobsTable {
  user_id: string;
  id: string;
  status: VideoJobStatus;
  request: Json<StoredVideoRequest>;
  plan: Json<StoredPlanEntry[]>;
  attempt_index: ColumnType<number, number | undefined, number>;
  operation: string | null;
  outputs: ColumnType<StoredVideoOutput[] | null, string | null, string | null>;
  error_code: string | null;
  error_message: string | null;
  progress: number | null;
  video_seconds: number | null;
  polls: ColumnType<number, number | undefined, number>;
  poll_errors: ColumnType<number, number | undefined, number>;
  webhook_url: string | null;
  metadata: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  next_poll_at: Timestamp;
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
  finalized_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  completed_at: Timestamp | null;
}

export interface VideoAttemptsTable {
  user_id: string;
  job_id: string;
  /** Position in the job's plan. */
  attempt: number;
  provider: string;
  model: string;
  credential_id: string;
  credential_version: number;
  status: VideoAttemptStatus;
  operation: string | null;
  error_code: string | null;
  error_message: string | null;
  started_at: Timestamp;
  ended_at: Timestamp | null;
}

export type VideoTables = {
  video_jobs: VideoJobsTable;
  video_attempts: VideoAttemptsTable;
};

export type VideoJobRow = Selectable<VideoJobsTable>;
export type VideoAttemptRow = Selectable<VideoAttemptsTable>;
export type VideoJobUpdate = Updateable<VideoJobsTable>;
