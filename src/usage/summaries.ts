import { type Kysely, sql } from 'kysely';
import type { Tables } from '../store/index.ts';
import type { RateLimitHeadroom } from './rate-limit-headroom.ts';

/**
 * Usage summaries, read from the daily rollups only (a user's 90 days are at most 90 × models rows).
 * Days are UTC; a range is [from, to): `from` included, `to` excluded.
 *
 * Fields: inputTokens are the uncached input tokens; cachedTokens = cache reads + cache writes (every
 * prompt token that went through the provider's cache; both are also given apart); reasoningTokens are
 * a part of outputTokens, not added to them; costUsd sums the priced requests only, and
 * unpricedRequests counts the requests whose cost is unknown (they are never costed at 0).
 */
export type SummaryGroupBy = 'day' | 'provider' | 'model' | 'user';

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  videoSeconds: number;
  images: number;
  costUsd: number;
  costMicroUsd: number;
  unpricedRequests: number;
}

export interface UsageGroup extends UsageTotals {
  /** The day (YYYY-MM-DD), provider id, model id ('' when the call named none) or user id. */
  key: string;
  /** With groupBy=model: the model's provider (the same model id can come from two providers). */
  provider?: string;
}

export interface UsageSummary {
  totals: UsageTotals;
  groups: UsageGroup[];
}

export interface SummaryQuery {
  /** Absent: every user (admin). */
  userId?: string;
  /** YYYY-MM-DD, included. */
  from: string;
  /** YYYY-MM-DD, excluded. */
  to: string;
  groupBy: SummaryGroupBy;
}

export function emptyTotals(): UsageTotals {
  return {
    requests: 0,
    inputTokens: 0,
    outputTokens: 0,
    cachedTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    videoSeconds: 0,
    images: 0,
    costUsd: 0,
    costMicroUsd: 0,
    unpricedRequests: 0,
  };
}

interface SumRow {
  key: string;
  provider: string | null;
  requests: string;
  input_tokens: string;
  output_tokens: string;
  cache_read_tokens: string;
  cache_write_tokens: string;
  reasoning_tokens: string;
  video_seconds: number | string;
  images: string;
  cost_micro_usd: string;
  unpriced_requests: string;
}

const KEYS: Record<SummaryGroupBy, ReturnType<typeof sql<string>>> = {
  day: sql<string>`to_char(day, 'YYYY-MM-DD')`,
  provider: sql<string>`provider`,
  model: sql<string>`model`,
  user: sql<string>`user_id`,
};

function totalsOf(row: SumRow): UsageTotals {
  const cacheRead = Number(row.cache_read_tokens);
  const cacheWrite = Number(row.cache_write_tokens);
  const micro = Number(row.cost_micro_usd);
  return {
    requests: Number(row.requests),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    cachedTokens: cacheRead + cacheWrite,
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    reasoningTokens: Number(row.reasoning_tokens),
    videoSeconds: Number(row.video_seconds),
    images: Number(row.images),
    costUsd: microToUsdNumber(micro),
    costMicroUsd: micro,
    unpricedRequests: Number(row.unpriced_requests),
  };
}

/** USD as a number, rounded to the micro-dollar so that sums print without binary noise. */
export function microToUsdNumber(micro: number): number {
  return Number((micro / 1_000_000).toFixed(6));
}

function addTotals(sum: UsageTotals, part: UsageTotals): void {
  for (const name of Object.keys(sum) as (keyof UsageTotals)[]) {
    if (name !== 'costUsd') sum[name] += part[name];
  }
  sum.costUsd = microToUsdNumber(sum.costMicroUsd);
}

export async function summarizeUsage(
  db: Kysely<Tables>,
  { userId, from, to, groupBy }: SummaryQuery,
): Promise<UsageSummary> {
  const key = KEYS[groupBy];
  const withProvider = groupBy === 'model';
  const result = await sql<SumRow>`
    select ${key} as key, ${withProvider ? sql`provider` : sql`null`} as provider,
      sum(requests) as requests, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
      sum(cache_read_tokens) as cache_read_tokens, sum(cache_write_tokens) as cache_write_tokens,
      sum(reasoning_tokens) as reasoning_tokens, sum(video_seconds) as video_seconds,
      sum(images) as images, sum(cost_micro_usd) as cost_micro_usd,
      sum(unpriced_requests) as unpriced_requests
    from usage_daily
    where ${userId === undefined ? sql`true` : sql`user_id = ${userId}`}
      and day >= ${from}::date and day < ${to}::date
    group by 1, 2
    order by 1, 2
  `.execute(db);
  const totals = emptyTotals();
  const groups = result.rows.map((row) => {
    const part = totalsOf(row);
    addTotals(totals, part);
    return withProvider && row.provider !== null
      ? { key: row.key, provider: row.provider, ...part }
      : { key: row.key, ...part };
  });
  return { totals, groups };
}

export interface ProviderRateLimits extends RateLimitHeadroom {
  provider: string;
  credentialVersion: number | null;
  observedAt: string;
}

/** The last headroom each provider reported for the user's credential, by provider. */
export async function rateLimitsOf(db: Kysely<Tables>, userId: string): Promise<ProviderRateLimits[]> {
  const rows = await db
    .selectFrom('usage_rate_limits')
    .select(['provider', 'credential_version', 'observed_at', 'headroom'])
    .where('user_id', '=', userId)
    .orderBy('provider')
    .execute();
  return rows.map((row) => ({
    provider: row.provider,
    credentialVersion: row.credential_version,
    observedAt: new Date(row.observed_at).toISOString(),
    ...(row.headroom as RateLimitHeadroom),
  }));
}

/** Everything usage holds about a user (events, rollups, headroom): for deleting a user. */
export async function deleteUsageOf(db: Kysely<Tables>, userId: string): Promise<void> {
  await db.transaction().execute(async (transaction) => {
    await transaction.deleteFrom('usage_events').where('user_id', '=', userId).execute();
    await transaction.deleteFrom('usage_daily').where('user_id', '=', userId).execute();
    await transaction.deleteFrom('usage_rate_limits').where('user_id', '=', userId).execute();
  });
}
