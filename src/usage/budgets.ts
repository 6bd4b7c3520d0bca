import { type Kysely, sql } from 'kysely';
import { KeyhavenError } from '../errors.ts';
import { randomHex } from '../ids.ts';
import type { PriceTable } from '../providers/prices/index.ts';
import type { Tables } from '../store/index.ts';
import type { EventSink } from '../webhooks/events.ts';
import { microToUsdText } from './csv.ts';
import type { UsageRecord } from './meter.ts';
import { microToUsdNumber } from './summaries.ts';
import { costOfRecord } from './usage-store.ts';

/**
 * Monthly budgets (UTC calendar months). Every call that spends reserves an upper-bound estimate of its
 * cost first and settles the real cost afterwards. The reservation is one conditional UPDATE of the
 * user's month row (`spent + reserved + estimate <= amount`), so concurrent calls on any number of
 * instances sharing the database cannot together take more than the budget holds; a call whose real
 * cost stays within its estimate never overshoots, and one that does overshoots by its own excess only.
 * Reservations carry an expiry: those of a crashed instance stop counting and are cleaned up when they
 * would refuse a call (or when the budget is read). Thresholds and `budget.exceeded` are sent once per
 * month: a row in `budget_alerts` (its primary key) is the claim, whichever instance gets there first.
 *
 * Unpriced models: under a hard budget a call to a model without a price is refused (it could spend
 * without bound); under a soft budget it is let through, reserved at 0 and never counted as 0 in usage.
 */
export type BudgetMode = 'hard' | 'soft';

export interface BudgetSettings {
  amountUsd: number;
  /** Percentages of the amount, e.g. [50, 80, 100]. */
  thresholds: readonly number[];
  mode: BudgetMode;
}

export interface BudgetView {
  userId: string;
  amountUsd: number;
  thresholds: number[];
  mode: BudgetMode;
  /** The current UTC month, YYYY-MM, with its bounds [periodStart, periodEnd). */
  month: string;
  periodStart: string;
  periodEnd: string;
  spentUsd: number;
  reservedUsd: number;
  remainingUsd: number;
  amountMicroUsd: number;
  spentMicroUsd: number;
  reservedMicroUsd: number;
  /** spent + reserved has reached the amount: a hard budget refuses further calls this month. */
  exhausted: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A reservation held by one call or video job, to settle (or release) once its real cost is known. */
export interface BudgetReservation {
  userId: string;
  id: string;
  month: string;
  estimateMicroUsd: number;
  /** The provider and model the request named (a passthrough call), to price a response naming another. */
  provider?: string;
  model?: string;
}

/** What the gateway knows about a passthrough call before it goes out. */
export interface CallEstimateInput {
  userId: string;
  provider: string;
  method: string;
  /** The provider path (without the query), e.g. /chat/completions or /models/gemini-2.5-flash:generateContent. */
  path: string;
  model: string | undefined;
  /** The parsed JSON body, when it was one. */
  body: Readonly<Record<string, unknown>> | undefined;
  bodyBytes: number;
}

export interface VideoJobEstimate {
  id: string;
  /** Each provider the job may try (failover): the job reserves the dearest one. */
  attempts: readonly { provider: string; model: string; estimatedCost: number | null }[];
}

export interface BudgetsOptions {
  db: Kysely<Tables>;
  prices: PriceTable;
  events: EventSink;
  clock?: () => Date;
  /** A passthrough call's reservation stops counting after this long (a crashed instance never settles). */
  callReservationMs?: number;
  /** A video job's reservation: at least the worker's job timeout (2 h by default). */
  videoReservationMs?: number;
  /** Output tokens assumed when a request sets no max_tokens / max_output_tokens / maxOutputTokens. */
  defaultMaxOutputTokens?: number;
  onError?: (error: unknown, message: string) => void;
  /** How long a user found without a budget is taken to have none (0: ask the database every call). */
  noBudgetCacheMs?: number;
}

/**
 * Calls of users without a budget skip the database for this long after one found none; a budget set
 * on another instance is therefore enforced here at most this late (at once on the instance that set it).
 */
export const NO_BUDGET_CACHE_MS = 1_000;

/** Tokens reserved for one inline image or other media blob (base64 or data: URL) in a request. */
const MEDIA_TOKENS = 2_000;
const MEDIA_MIN_LENGTH = 1_024;
const BASE64ISH = /^(data:[^,]{0,100},)?[A-Za-z0-9+/=_-]+$/;
/** Provider paths that never cost anything although they are POSTs naming a model. */
const FREE_PATHS = /(count_tokens|:countTokens|\/input_tokens)$/;
const OUTPUT_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const;
const MAX_BUDGET_USD = 1_000_000_000;
/** A refusal looks for expired reservations at most this often per user (and instance). */
const EXPIRY_CHECK_MS = 1_000;

const usd = (micro: number) => microToUsdNumber(micro);
/** "$25.00", "$7.50", "$0.000248": cents at least, micro-dollars when they matter. */
const dollars = (micro: number) => `$${microToUsdText(micro).replace(/(\.\d\d\d*?)0+$/, '$1')}`;

export function monthOf(date: Date): string {
  return date.toISOString().slice(0, 7);
}

function monthBounds(month: string): { start: string; end: string } {
  const [year, monthNumber] = month.split('-').map(Number) as [number, number];
  const end = new Date(Date.UTC(year, monthNumber, 1)).toISOString().slice(0, 10);
  return { start: `${month}-01`, end };
}

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

function isSuccess(record: UsageRecord): boolean {
  return record.status >= 200 && record.status < 300 && record.aborted !== true;
}

function hasUsage(record: UsageRecord): boolean {
  return (
    record.inputTokens + record.outputTokens + record.cacheReadTokens + record.cacheWriteTokens > 0 ||
    record.videoSeconds > 0 ||
    record.images > 0
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Input tokens, from above: a token is rarely shorter than three characters of JSON text (keys and
 * punctuation included), and an inline image or media blob counts as MEDIA_TOKENS whatever its size.
 */
export function estimateInputTokens(body: unknown, bodyBytes: number): number {
  if (body === undefined) return Math.ceil(bodyBytes / 3);
  let characters = 0;
  let media = 0;
  const stack: unknown[] = [body];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') {
      if (value.length >= MEDIA_MIN_LENGTH && BASE64ISH.test(value)) media += 1;
      else characters += value.length + 3;
    } else if (Array.isArray(value)) {
      stack.push(...value);
    } else if (isObject(value)) {
      for (const [key, entry] of Object.entries(value)) {
        characters += key.length + 3;
        stack.push(entry);
      }
    } else characters += 5;
  }
  return Math.ceil(characters / 3) + media * MEDIA_TOKENS;
}

/** The output limit the request sets (times the number of choices asked for), or the default cap. */
export function estimateOutputTokens(body: Readonly<Record<string, unknown>> | undefined, fallback: number) {
  const config = isObject(body?.generationConfig) ? body.generationConfig : undefined;
  const limit =
    OUTPUT_FIELDS.map((field) => positiveInteger(body?.[field])).find((value) => value !== undefined) ??
    positiveInteger(config?.maxOutputTokens) ??
    fallback;
  const choices = Math.min(128, positiveInteger(body?.n) ?? positiveInteger(config?.candidateCount) ?? 1);
  return limit * choices;
}

interface ReserveRow {
  has_budget: number | string;
  mode: BudgetMode | null;
  amount_micro_usd: string | null;
  period_exists: boolean;
  reserved: boolean;
  spent_micro_usd: string | null;
  reserved_micro_usd: string | null;
}

interface SettleRow {
  month: string;
  spent_micro_usd: string;
  amount_micro_usd: string | null;
  thresholds: number[] | string | null;
  mode: BudgetMode | null;
}

export function createBudgets({
  db,
  prices,
  events,
  clock = () => new Date(),
  callReservationMs = 30 * 60_000,
  videoReservationMs = 3 * 3_600_000,
  defaultMaxOutputTokens = 4_096,
  onError = () => {},
  noBudgetCacheMs = NO_BUDGET_CACHE_MS,
}: BudgetsOptions) {
  // Users found without a budget, and when (real time): their calls skip the database for
  // noBudgetCacheMs. set() here forgets the user at once; a budget set on another instance is enforced
  // here within that window. Users with a budget are never cached: their reservations stay atomic.
  const withoutBudget = new Map<string, number>();
  let budgetsChanged = 0;
  const knownWithoutBudget = (userId: string) =>
    performance.now() - (withoutBudget.get(userId) ?? Number.NEGATIVE_INFINITY) < noBudgetCacheMs;
  const rememberWithoutBudget = (userId: string, changesBefore: number) => {
    if (changesBefore !== budgetsChanged || noBudgetCacheMs <= 0) return;
    if (withoutBudget.size >= 10_000) withoutBudget.clear();
    withoutBudget.set(userId, performance.now());
  };
  // Alerts this instance knows are sent (user|month|kind|threshold): no insert is tried again for them.
  const sent = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  // When each user's expired reservations were last cleaned here: a user over budget who keeps calling
  // costs one statement per refusal, not two.
  const cleanedAt = new Map<string, number>();

  /** Creates the month row, starting from the usage already recorded this month (a budget set mid-month). */
  async function openPeriod(userId: string, month: string): Promise<void> {
    const { start, end } = monthBounds(month);
    await sql`
      insert into budget_periods (user_id, month, spent_micro_usd, reserved_micro_usd)
      select ${userId}, ${month},
        coalesce((select sum(cost_micro_usd) from usage_daily
          where user_id = ${userId} and day >= ${start}::date and day < ${end}::date), 0), 0
      where exists (select 1 from budgets where user_id = ${userId})
      on conflict (user_id, month) do nothing
    `.execute(db);
  }

  /** Drops expired reservations of a user, taking them off their months' reserved figures. */
  async function expire(userId: string): Promise<number> {
    const result = await sql<{ released: string }>`
      with expired as (
        delete from budget_reservations
        where user_id = ${userId} and expires_at <= ${clock().toISOString()}::timestamptz
        returning month, amount_micro_usd
      ), totals as (
        select month, sum(amount_micro_usd) as amount from expired group by month
      ), updated as (
        update budget_periods as period
        set reserved_micro_usd = greatest(0, period.reserved_micro_usd - totals.amount)
        from totals
        where period.user_id = ${userId} and period.month = totals.month
        returning 1
      )
      select count(*) as released from expired
    `.execute(db);
    return Number(result.rows[0]?.released ?? 0);
  }

  /**
   * One statement: the reservation is taken only if the month still holds it (hard) and the rows are
   * inserted only if it was; the row also tells why nothing was reserved.
   */
  async function tryReserve(
    userId: string,
    month: string,
    items: readonly { id: string; estimate: number }[],
    expiresAt: Date,
  ): Promise<ReserveRow> {
    const total = items.reduce((sum, item) => sum + item.estimate, 0);
    const result = await sql<ReserveRow>`
      with budget as (
        select amount_micro_usd, mode from budgets where user_id = ${userId}
      ), updated as (
        update budget_periods as period
        set reserved_micro_usd = period.reserved_micro_usd + ${total}::bigint
        from budgets as budget
        where period.user_id = ${userId} and period.month = ${month} and budget.user_id = period.user_id
          and (budget.mode = 'soft' or (
            period.spent_micro_usd + period.reserved_micro_usd + ${total}::bigint <= budget.amount_micro_usd
            and period.spent_micro_usd + period.reserved_micro_usd < budget.amount_micro_usd))
        returning period.spent_micro_usd, period.reserved_micro_usd
      ), inserted as (
        insert into budget_reservations (user_id, id, month, amount_micro_usd, expires_at)
        select ${userId}, item.id, ${month}, item.amount, ${expiresAt.toISOString()}::timestamptz
        from unnest(${items.map((item) => item.id)}::text[], ${items.map((item) => item.estimate)}::bigint[])
          as item (id, amount)
        where exists (select 1 from updated)
        returning 1
      ), period as (
        select spent_micro_usd, reserved_micro_usd from budget_periods
        where user_id = ${userId} and month = ${month}
      )
      select (select count(*) from budget) as has_budget,
        (select mode from budget) as mode,
        (select amount_micro_usd from budget) as amount_micro_usd,
        exists (select 1 from period) as period_exists,
        exists (select 1 from updated) as reserved,
        coalesce((select spent_micro_usd from updated), (select spent_micro_usd from period)) as spent_micro_usd,
        coalesce((select reserved_micro_usd from updated), (select reserved_micro_usd from period))
          as reserved_micro_usd
    `.execute(db);
    const row = result.rows[0];
    if (!row) throw new Error('budget reservation returned no row');
    return row;
  }

  /**
   * Reserves `items` together (all or none). Undefined when the user has no budget; throws 402
   * budget_exceeded when a hard budget cannot hold them.
   */
  async function reserve(
    userId: string,
    items: readonly { id: string; estimate: number }[],
    lifetimeMs: number,
  ): Promise<BudgetReservation[] | undefined> {
    if (knownWithoutBudget(userId)) return undefined;
    const changesBefore = budgetsChanged;
    const now = clock();
    const month = monthOf(now);
    const expiresAt = new Date(now.getTime() + lifetimeMs);
    let cleaned = false;
    for (let round = 0; round < 4; round += 1) {
      const row = await tryReserve(userId, month, items, expiresAt);
      if (Number(row.has_budget) === 0) {
        rememberWithoutBudget(userId, changesBefore);
        return undefined;
      }
      if (row.reserved) {
        return items.map((item) => ({ userId, id: item.id, month, estimateMicroUsd: item.estimate }));
      }
      if (!row.period_exists) {
        await openPeriod(userId, month);
        continue;
      }
      if (!cleaned && now.getTime() - (cleanedAt.get(userId) ?? 0) >= EXPIRY_CHECK_MS) {
        cleaned = true;
        cleanedAt.set(userId, now.getTime());
        if (cleanedAt.size > 10_000) cleanedAt.clear();
        if ((await expire(userId)) > 0) continue;
      }
      const amount = Number(row.amount_micro_usd ?? 0);
      const spent = Number(row.spent_micro_usd ?? 0);
      const reserved = Number(row.reserved_micro_usd ?? 0);
      const estimate = items.reduce((sum, item) => sum + item.estimate, 0);
      await alert(userId, month, 'exceeded', 0, {
        month,
        amountUsd: usd(amount),
        spentUsd: usd(spent),
        reservedUsd: usd(reserved),
        mode: 'hard',
      }).catch((error: unknown) => onError(error, 'budgets: sending budget.exceeded failed; retried later'));
      throw new KeyhavenError(
        'budget_exceeded',
        spent + reserved >= amount
          ? `the monthly budget of ${dollars(amount)} is used up for ${month} (${dollars(spent)} spent, ${dollars(reserved)} reserved by calls in progress)`
          : `this call could cost up to ${dollars(estimate)}, more than is left of the monthly budget of ${dollars(amount)} for ${month} (${dollars(spent)} spent, ${dollars(reserved)} reserved by calls in progress); lower max_tokens or raise the budget`,
        {
          details: {
            month,
            amountUsd: usd(amount),
            spentUsd: usd(spent),
            reservedUsd: usd(reserved),
            estimateUsd: usd(estimate),
          },
        },
      );
    }
    throw new Error('budget reservation did not settle after several rounds');
  }

  /** Hard budgets refuse what they cannot price; soft ones let it through at 0. Undefined: no budget. */
  async function unpricedAllowed(
    userId: string,
    provider: string,
    model: string,
  ): Promise<boolean | undefined> {
    if (knownWithoutBudget(userId)) return undefined;
    const changesBefore = budgetsChanged;
    const budget = await db
      .selectFrom('budgets')
      .select('mode')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!budget) {
      rememberWithoutBudget(userId, changesBefore);
      return undefined;
    }
    if (budget.mode === 'soft') return true;
    throw new KeyhavenError(
      'unsupported_request',
      `${provider} model ${JSON.stringify(model)} has no price, so this user's hard budget cannot be enforced for it; add a price for it (KEYHAVEN_PRICES_FILE) or make the budget soft`,
      { details: { provider, model, reason: 'unpriced_under_hard_budget' } },
    );
  }

  /** The upper-bound cost of a passthrough call, in micro-USD; null when its model has no price. */
  function estimateCall({ provider, model, body, bodyBytes }: CallEstimateInput): number | null {
    if (model === undefined) return null;
    const price = prices.price(provider, model);
    if (price?.inputPerMillion === undefined || price.outputPerMillion === undefined) return null;
    const inputPrice = Math.max(
      price.inputPerMillion,
      price.cacheWritePerMillion ?? 0,
      price.cacheReadPerMillion ?? 0,
    );
    const micro =
      estimateInputTokens(body, bodyBytes) * inputPrice +
      estimateOutputTokens(body, defaultMaxOutputTokens) * price.outputPerMillion;
    return Math.ceil(micro);
  }

  /**
   * Before a passthrough call: POSTs naming a model spend (token counting excepted); listings, file
   * uploads without a model and the like are not reserved.
   */
  async function reserveCall(input: CallEstimateInput): Promise<BudgetReservation | undefined> {
    if (input.method !== 'POST' || input.model === undefined || FREE_PATHS.test(input.path)) return undefined;
    if (knownWithoutBudget(input.userId)) return undefined;
    let estimate = estimateCall(input);
    if (estimate === null) {
      const allowed = await unpricedAllowed(input.userId, input.provider, input.model);
      if (allowed === undefined) return undefined;
      estimate = 0;
    }
    const id = `bres_${randomHex(12)}`;
    const reserved = (await reserve(input.userId, [{ id, estimate }], callReservationMs))?.[0];
    return reserved && { ...reserved, provider: input.provider, model: input.model };
  }

  /** Before video jobs are stored: all of them or none, each at its dearest planned attempt. */
  async function reserveVideoJobs(
    userId: string,
    jobs: readonly VideoJobEstimate[],
  ): Promise<BudgetReservation[] | undefined> {
    const items: { id: string; estimate: number }[] = [];
    for (const job of jobs) {
      let estimate = 0;
      for (const attempt of job.attempts) {
        if (attempt.estimatedCost === null) {
          if ((await unpricedAllowed(userId, attempt.provider, attempt.model)) === undefined)
            return undefined;
        } else estimate = Math.max(estimate, Math.ceil(attempt.estimatedCost));
      }
      items.push({ id: job.id, estimate });
    }
    return reserve(userId, items, videoReservationMs);
  }

  /**
   * Replaces a reservation by the real cost: `cost` in micro-USD, or null when the call cannot be priced
   * (then the reservation's estimate is charged). An already expired reservation is only charged.
   */
  async function settle(
    userId: string,
    reservationId: string,
    fallbackMonth: string,
    cost: number | null,
  ): Promise<void> {
    const result = await sql<SettleRow>`
      with released as (
        delete from budget_reservations where user_id = ${userId} and id = ${reservationId}
        returning month, amount_micro_usd
      ), updated as (
        update budget_periods as period
        set spent_micro_usd = period.spent_micro_usd
            + coalesce(${cost}::bigint, (select amount_micro_usd from released), 0),
          reserved_micro_usd = greatest(0,
            period.reserved_micro_usd - coalesce((select amount_micro_usd from released), 0))
        where period.user_id = ${userId}
          and period.month = coalesce((select month from released), ${fallbackMonth})
        returning period.month, period.spent_micro_usd
      )
      select updated.month, updated.spent_micro_usd, budget.amount_micro_usd, budget.thresholds, budget.mode
      from updated left join budgets as budget on budget.user_id = ${userId}
    `.execute(db);
    const row = result.rows[0];
    if (row) await checkAlerts(userId, row);
  }

  function thresholdsOf(value: SettleRow['thresholds']): number[] {
    if (value === null) return [];
    return typeof value === 'string' ? (JSON.parse(value) as number[]) : value;
  }

  async function checkAlerts(userId: string, row: SettleRow): Promise<void> {
    if (row.amount_micro_usd === null || row.mode === null) return;
    const amount = Number(row.amount_micro_usd);
    const spent = Number(row.spent_micro_usd);
    const percentUsed = Number(((spent / amount) * 100).toFixed(2));
    for (const threshold of thresholdsOf(row.thresholds)) {
      if (spent * 100 < threshold * amount) continue;
      await alert(userId, row.month, 'threshold', threshold, {
        month: row.month,
        thresholdPercent: threshold,
        percentUsed,
        amountUsd: usd(amount),
        spentUsd: usd(spent),
        mode: row.mode,
      });
    }
    if (row.mode === 'hard' && spent >= amount) {
      await alert(userId, row.month, 'exceeded', 0, {
        month: row.month,
        amountUsd: usd(amount),
        spentUsd: usd(spent),
        mode: 'hard',
      });
    }
  }

  /** Sends an event once per user, month, kind and threshold, across instances. */
  async function alert(
    userId: string,
    month: string,
    kind: 'threshold' | 'exceeded',
    threshold: number,
    data: Record<string, unknown>,
  ): Promise<void> {
    const key = `${userId}\u0000${month}\u0000${kind}\u0000${threshold}`;
    if (sent.has(key)) return;
    const claimed = await db
      .insertInto('budget_alerts')
      .values({ user_id: userId, month, kind, threshold, sent_at: clock() })
      .onConflict((conflict) => conflict.doNothing())
      .returning('threshold')
      .executeTakeFirst();
    if (claimed) {
      try {
        await events.emit({
          type: kind === 'threshold' ? 'budget.threshold' : 'budget.exceeded',
          userId,
          data,
        });
      } catch (error) {
        // Not sent: the claim goes, so the next settlement (here or elsewhere) tries again.
        await db
          .deleteFrom('budget_alerts')
          .where('user_id', '=', userId)
          .where('month', '=', month)
          .where('kind', '=', kind)
          .where('threshold', '=', threshold)
          .execute();
        throw error;
      }
    }
    sent.add(key);
  }

  /** Runs a settlement in the background (the caller's response is already on its way), tracked for drain(). */
  function background(work: () => Promise<void>, message: string): void {
    const task = work().catch((error: unknown) => onError(error, message));
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  }

  /**
   * After a passthrough call: `record` is what the call used (undefined: it never reached the provider,
   * and the reservation is released). Does not wait; see drain().
   */
  function settleCall(reservation: BudgetReservation, record: UsageRecord | undefined): void {
    background(async () => {
      let cost: number | null = 0;
      if (record) {
        cost = costOfRecord(prices, record);
        // The response may name a dated model the table lacks: the requested one's price then applies
        // (and with no price at all, the estimate is charged).
        if (cost === null && reservation.model !== undefined && reservation.model !== record.model) {
          cost = costOfRecord(prices, { ...record, model: reservation.model });
        }
        // A success that reported no usage at all (its usage could not be read): the estimate is charged,
        // not 0, so a hard budget is never spent by calls it cannot see.
        if (isSuccess(record) && !hasUsage(record)) cost = null;
      }
      await settle(reservation.userId, reservation.id, reservation.month, cost);
    }, 'budgets: settling a call failed; its reservation expires on its own');
  }

  /** At the end of a video job (once): its real cost when it succeeded, nothing otherwise. */
  async function settleVideoJob(
    userId: string,
    jobId: string,
    record: UsageRecord | undefined,
  ): Promise<void> {
    const cost = record ? costOfRecord(prices, record) : 0;
    await settle(userId, jobId, monthOf(clock()), cost);
  }

  /** Releases reservations that will not be used (a submission that failed after reserving). */
  async function release(reservations: readonly BudgetReservation[]): Promise<void> {
    for (const reservation of reservations) {
      await settle(reservation.userId, reservation.id, reservation.month, 0);
    }
  }

  /** Waits for the settlements in progress (tests, shutdown). */
  async function drain(): Promise<void> {
    while (inFlight.size > 0) await Promise.all([...inFlight]);
  }

  async function get(userId: string): Promise<BudgetView> {
    const budget = await db
      .selectFrom('budgets')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!budget) throw new KeyhavenError('not_found', 'no budget is set for this user');
    const month = monthOf(clock());
    await expire(userId);
    const period = await db
      .selectFrom('budget_periods')
      .select(['spent_micro_usd', 'reserved_micro_usd'])
      .where('user_id', '=', userId)
      .where('month', '=', month)
      .executeTakeFirst();
    let spent: number;
    if (period) spent = Number(period.spent_micro_usd);
    else {
      // No call this month yet: the usage recorded so far (a budget set mid-month counts it).
      const { start, end } = monthBounds(month);
      const sum = await sql<{ cost: string | null }>`
        select sum(cost_micro_usd) as cost from usage_daily
        where user_id = ${userId} and day >= ${start}::date and day < ${end}::date
      `.execute(db);
      spent = Number(sum.rows[0]?.cost ?? 0);
    }
    const reserved = Number(period?.reserved_micro_usd ?? 0);
    const amount = Number(budget.amount_micro_usd);
    const { start, end } = monthBounds(month);
    return {
      userId,
      amountUsd: usd(amount),
      thresholds: thresholdsOf(budget.thresholds),
      mode: budget.mode,
      month,
      periodStart: `${start}T00:00:00.000Z`,
      periodEnd: `${end}T00:00:00.000Z`,
      spentUsd: usd(spent),
      reservedUsd: usd(reserved),
      remainingUsd: usd(Math.max(0, amount - spent - reserved)),
      amountMicroUsd: amount,
      spentMicroUsd: spent,
      reservedMicroUsd: reserved,
      exhausted: spent + reserved >= amount,
      createdAt: new Date(budget.created_at).toISOString(),
      updatedAt: new Date(budget.updated_at).toISOString(),
    };
  }

  /** Creates or replaces the user's budget; thresholds already reached fire now. */
  async function set(userId: string, settings: BudgetSettings): Promise<BudgetView> {
    const amount = Math.round(settings.amountUsd * 1_000_000);
    if (!(amount > 0) || settings.amountUsd > MAX_BUDGET_USD) {
      throw new KeyhavenError(
        'invalid_request',
        `amountUsd must be more than 0 and at most ${MAX_BUDGET_USD}`,
      );
    }
    const thresholds = [...new Set(settings.thresholds)].sort((a, b) => a - b);
    const now = clock();
    budgetsChanged += 1;
    withoutBudget.delete(userId);
    await db
      .insertInto('budgets')
      .values({
        user_id: userId,
        amount_micro_usd: amount,
        thresholds: JSON.stringify(thresholds),
        mode: settings.mode,
        created_at: now,
        updated_at: now,
      })
      .onConflict((conflict) =>
        conflict.column('user_id').doUpdateSet({
          amount_micro_usd: amount,
          thresholds: JSON.stringify(thresholds),
          mode: settings.mode,
          updated_at: now,
        }),
      )
      .execute();
    const month = monthOf(now);
    await openPeriod(userId, month);
    const view = await get(userId);
    try {
      await checkAlerts(userId, {
        month,
        spent_micro_usd: String(view.spentMicroUsd),
        amount_micro_usd: String(amount),
        thresholds,
        mode: settings.mode,
      });
    } catch (error) {
      onError(error, 'budgets: sending the alerts of a new budget failed; the next call retries');
    }
    return view;
  }

  /** Removes the budget and its figures (user deletion, or no budget wanted any more). */
  async function remove(userId: string): Promise<boolean> {
    return db.transaction().execute(async (transaction) => {
      await transaction.deleteFrom('budget_reservations').where('user_id', '=', userId).execute();
      await transaction.deleteFrom('budget_periods').where('user_id', '=', userId).execute();
      await transaction.deleteFrom('budget_alerts').where('user_id', '=', userId).execute();
      const removed = await transaction
        .deleteFrom('budgets')
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(removed.numDeletedRows) > 0;
    });
  }

  return {
    get,
    set,
    remove,
    estimateCall,
    reserveCall,
    settleCall,
    reserveVideoJobs,
    settleVideoJob,
    release,
    drain,
  };
}

export type Budgets = ReturnType<typeof createBudgets>;
