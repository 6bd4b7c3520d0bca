import { type Kysely, sql } from 'kysely';
import type { Tables } from '../store/index.ts';
import { csvLine, csvNumber, csvText, microToUsdText } from './csv.ts';
import type { SummaryGroupBy, UsageSummary } from './summaries.ts';

/**
 * CSV exports. Events are read a page at a time by keyset (occurred_at, [user_id,] id), so an export of
 * any size holds one page in memory and no connection between pages.
 */
export interface EventsQuery {
  /** Absent: every user (admin). */
  userId?: string;
  /** YYYY-MM-DD, included. */
  from: string;
  /** YYYY-MM-DD, excluded. */
  to: string;
}

const EVENT_COLUMNS = [
  'occurred_at',
  'user_id',
  'provider',
  'model',
  'credential_version',
  'request_id',
  'route',
  'status',
  'latency_ms',
  'aborted',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'video_seconds',
  'images',
  'resolution',
  'cost_usd',
  'priced',
  'price_version',
] as const;

interface EventRow {
  at: string;
  id: string;
  user_id: string;
  provider: string;
  model: string | null;
  credential_version: number | null;
  request_id: string;
  route: string;
  status: number;
  latency_ms: number;
  aborted: boolean;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  video_seconds: number;
  images: number;
  resolution: string | null;
  cost_micro_usd: string | null;
  price_version: string;
}

function eventLine(row: EventRow): string {
  return csvLine([
    row.at,
    csvText(row.user_id),
    csvText(row.provider),
    csvText(row.model),
    csvNumber(row.credential_version),
    csvText(row.request_id),
    csvText(row.route),
    csvNumber(row.status),
    csvNumber(row.latency_ms),
    row.aborted ? 'true' : 'false',
    csvNumber(row.input_tokens),
    csvNumber(row.output_tokens),
    csvNumber(row.cache_read_tokens),
    csvNumber(row.cache_write_tokens),
    csvNumber(row.reasoning_tokens),
    csvNumber(row.video_seconds),
    csvNumber(row.images),
    csvText(row.resolution),
    // Empty (not 0) when unpriced: a spreadsheet sum then leaves it out instead of counting it free.
    row.cost_micro_usd === null ? '' : microToUsdText(row.cost_micro_usd),
    row.cost_micro_usd === null ? 'false' : 'true',
    csvText(row.price_version),
  ]);
}

export async function* eventsCsv(
  db: Kysely<Tables>,
  { userId, from, to }: EventsQuery,
  { pageSize = 1000 }: { pageSize?: number } = {},
): AsyncGenerator<string> {
  yield csvLine([...EVENT_COLUMNS]);
  let after: { at: string; userId: string; id: string } | undefined;
  for (;;) {
    // One user: the primary key (user_id, occurred_at, id) walks the range; every user: the
    // occurred_at index, with user_id and id breaking ties.
    const keyset =
      after === undefined
        ? sql`true`
        : userId === undefined
          ? sql`(occurred_at, user_id, id) > (${after.at}::timestamptz, ${after.userId}, ${after.id}::uuid)`
          : sql`(occurred_at, id) > (${after.at}::timestamptz, ${after.id}::uuid)`;
    const { rows } = await sql<EventRow>`
      select to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id::text as id,
        user_id, provider, model, credential_version, request_id, route, status, latency_ms, aborted,
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, video_seconds,
        images, resolution, cost_micro_usd, price_version
      from usage_events
      where ${userId === undefined ? sql`true` : sql`user_id = ${userId}`}
        and occurred_at >= ${from}::date::timestamp at time zone 'UTC'
        and occurred_at < ${to}::date::timestamp at time zone 'UTC'
        and ${keyset}
      order by ${userId === undefined ? sql`occurred_at, user_id, id` : sql`occurred_at, id`}
      limit ${pageSize}
    `.execute(db);
    if (rows.length === 0) return;
    yield rows.map(eventLine).join('');
    const last = rows[rows.length - 1];
    if (!last || rows.length < pageSize) return;
    after = { at: last.at, userId: last.user_id, id: last.id };
  }
}

const SUMMARY_KEY_COLUMN: Record<SummaryGroupBy, string> = {
  day: 'day',
  provider: 'provider',
  model: 'model',
  user: 'user_id',
};

/** A summary as CSV: one line per group (the totals are their sums). */
export function summaryCsv(summary: UsageSummary, groupBy: SummaryGroupBy): string {
  const header = [
    SUMMARY_KEY_COLUMN[groupBy],
    ...(groupBy === 'model' ? ['provider'] : []),
    'requests',
    'input_tokens',
    'output_tokens',
    'cached_tokens',
    'cache_read_tokens',
    'cache_write_tokens',
    'reasoning_tokens',
    'video_seconds',
    'images',
    'cost_usd',
    'unpriced_requests',
  ];
  const lines = [csvLine(header)];
  for (const group of summary.groups) {
    lines.push(
      csvLine([
        csvText(group.key),
        ...(groupBy === 'model' ? [csvText(group.provider ?? '')] : []),
        csvNumber(group.requests),
        csvNumber(group.inputTokens),
        csvNumber(group.outputTokens),
        csvNumber(group.cachedTokens),
        csvNumber(group.cacheReadTokens),
        csvNumber(group.cacheWriteTokens),
        csvNumber(group.reasoningTokens),
        csvNumber(group.videoSeconds),
        csvNumber(group.images),
        microToUsdText(group.costMicroUsd),
        csvNumber(group.unpricedRequests),
      ]),
    );
  }
  return lines.join('');
}
