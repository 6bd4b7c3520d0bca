export {
  type BudgetMode,
  type BudgetReservation,
  type BudgetSettings,
  type Budgets,
  type BudgetsOptions,
  type BudgetView,
  type CallEstimateInput,
  createBudgets,
  estimateInputTokens,
  estimateOutputTokens,
  monthOf,
  type VideoJobEstimate,
} from './budgets.ts';
export { csvLine, csvNumber, csvText, microToUsdText } from './csv.ts';
export { type EventsQuery, eventsCsv, summaryCsv } from './events-export.ts';
export type { RateLimitObservation, UsageMeter, UsageRecord } from './meter.ts';
export {
  carriesRateLimitHeadroom,
  type LimitHeadroom,
  parseDurationMs,
  type RateLimitHeadroom,
  readRateLimitHeadroom,
} from './rate-limit-headroom.ts';
export {
  deleteUsageOf,
  emptyTotals,
  microToUsdNumber,
  type ProviderRateLimits,
  rateLimitsOf,
  type SummaryGroupBy,
  type SummaryQuery,
  summarizeUsage,
  type UsageGroup,
  type UsageSummary,
  type UsageTotals,
} from './summaries.ts';
export {
  costOfRecord,
  createUsageStore,
  type UsageStore,
  type UsageStoreOptions,
  type UsageStoreStats,
} from './usage-store.ts';
