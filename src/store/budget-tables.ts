import type { ColumnType, Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Migration } from 'kysely/migration';

/**
 * Tables of the monthly budgets (src/usage/budgets.ts). `budgets` holds one row per user that has one;
 * `budget_periods` the figures of one user and UTC month (settled spending and outstanding reservations),
 * updated with one conditional UPDATE per reservation so that instances sharing the database cannot both
 * take the last of a budget; `budget_reservations` one row per call in flight, with an expiry so that a
 * crashed instance's reservations stop counting; `budget_alerts` one row per event sent, whose primary
 * key makes each threshold fire once per month whatever the number of instances.
 */
export const budgetMigrations: Record<string, Migration> = {
  '0006_budgets': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('budgets')
        .addColumn('user_id', 'text', (column) => column.primaryKey())
        .addColumn('amount_micro_usd', 'bigint', (column) =>
          column.notNull().check(sql`amount_micro_usd > 0`),
        )
        // Percentages of the amount, ascending, each at most once.
        .addColumn('thresholds', 'jsonb', (column) => column.notNull())
        .addColumn('mode', 'text', (column) => column.notNull().check(sql`mode in ('hard', 'soft')`))
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .execute();

      await db.schema
        .createTable('budget_periods')
        .addColumn('user_id', 'text', (column) => column.notNull())
        // 'YYYY-MM' (UTC calendar month).
        .addColumn('month', 'text', (column) => column.notNull())
        .addColumn('spent_micro_usd', 'bigint', (column) => column.notNull().check(sql`spent_micro_usd >= 0`))
        .addColumn('reserved_micro_usd', 'bigint', (column) =>
          column.notNull().check(sql`reserved_micro_usd >= 0`),
        )
        .addPrimaryKeyConstraint('budget_periods_pkey', ['user_id', 'month'])
        .execute();

      await db.schema
        .createTable('budget_reservations')
        .addColumn('user_id', 'text', (column) => column.notNull())
        // bres_... for a gateway call, the job id (vid_...) for a video job.
        .addColumn('id', 'text', (column) => column.notNull())
        .addColumn('month', 'text', (column) => column.notNull())
        .addColumn('amount_micro_usd', 'bigint', (column) =>
          column.notNull().check(sql`amount_micro_usd >= 0`),
        )
        .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
        .addPrimaryKeyConstraint('budget_reservations_pkey', ['user_id', 'id'])
        .execute();
      await db.schema
        .createIndex('budget_reservations_expiry')
        .on('budget_reservations')
        .columns(['user_id', 'expires_at'])
        .execute();

      await db.schema
        .createTable('budget_alerts')
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('month', 'text', (column) => column.notNull())
        .addColumn('kind', 'text', (column) => column.notNull().check(sql`kind in ('threshold', 'exceeded')`))
        // The percentage for a threshold, 0 for exceeded.
        .addColumn('threshold', 'integer', (column) => column.notNull())
        .addColumn('sent_at', 'timestamptz', (column) => column.notNull())
        .addPrimaryKeyConstraint('budget_alerts_pkey', ['user_id', 'month', 'kind', 'threshold'])
        .execute();
    },
  },
};

/** int8 columns come back as decimal strings from both drivers (see store/database.ts). */
type Int8 = ColumnType<string, string | number | bigint, string | number | bigint>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface BudgetsTable {
  user_id: string;
  amount_micro_usd: Int8;
  thresholds: ColumnType<number[], string, string>;
  mode: 'hard' | 'soft';
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface BudgetPeriodsTable {
  user_id: string;
  month: string;
  spent_micro_usd: Int8;
  reserved_micro_usd: Int8;
}

export interface BudgetReservationsTable {
  user_id: string;
  id: string;
  month: string;
  amount_micro_usd: Int8;
  expires_at: Timestamp;
}

export interface BudgetAlertsTable {
  user_id: string;
  month: string;
  kind: 'threshold' | 'exceeded';
  threshold: number;
  sent_at: Timestamp;
}

export type BudgetTables = {
  budgets: BudgetsTable;
  budget_periods: BudgetPeriodsTable;
  budget_reservations: BudgetReservationsTable;
  budget_alerts: BudgetAlertsTable;
};
