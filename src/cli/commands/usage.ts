import { type Command, InvalidArgumentError, Option } from 'commander';
import type { SummaryGroupBy, UsageTotals } from '../../usage/index.ts';
import { out, table, usageError, userIdArgument, withKeyhaven } from '../shared.ts';

/**
 * `keyhaven usage`: requests, tokens and cost from the daily rollups, for one user or every user, as a
 * table or JSON. Ranges are UTC days [from, to), with the HTTP API's defaults (the last 30 days up to
 * and including today) and limit (366 days).
 */
const DAY_MS = 86_400_000;
const DEFAULT_RANGE_DAYS = 30;
const MAX_RANGE_DAYS = 366;

function dayArgument(value: string): string {
  const parsed = new Date(`${value}T00:00:00Z`);
  if (
    !/^\d{4}-\d{2}-\d{2}$/.test(value) ||
    Number.isNaN(parsed.getTime()) ||
    !parsed.toISOString().startsWith(value)
  ) {
    throw new InvalidArgumentError('must be a calendar date YYYY-MM-DD (UTC)');
  }
  return value;
}

const isoDay = (time: number) => new Date(time).toISOString().slice(0, 10);

export function resolveRange(
  { from, to }: { from?: string | undefined; to?: string | undefined },
  now: Date,
): { from: string; to: string } {
  const end = to ?? isoDay(Date.parse(`${isoDay(now.getTime())}T00:00:00Z`) + DAY_MS);
  return { from: from ?? isoDay(Date.parse(`${end}T00:00:00Z`) - DEFAULT_RANGE_DAYS * DAY_MS), to: end };
}

const integer = (value: number) => value.toLocaleString('en-US');
// Four decimals: AI calls cost fractions of a cent; six when even that would show 0.
const usd = (value: number) => `$${value.toFixed(value !== 0 && Math.abs(value) < 0.0001 ? 6 : 4)}`;
const seconds = (value: number) =>
  value === 0 ? '0' : value.toLocaleString('en-US', { maximumFractionDigits: 1 });

const KEY_TITLE: Record<SummaryGroupBy, string> = {
  day: 'DAY',
  provider: 'PROVIDER',
  model: 'MODEL',
  user: 'USER',
};

function figures(totals: UsageTotals): string[] {
  return [
    integer(totals.requests),
    integer(totals.inputTokens),
    integer(totals.outputTokens),
    integer(totals.cachedTokens),
    seconds(totals.videoSeconds),
    integer(totals.images),
    usd(totals.costUsd),
  ];
}

interface UsageOptions {
  from?: string;
  to?: string;
  groupBy?: SummaryGroupBy;
  json?: boolean;
}

export function registerUsageCommand(program: Command): void {
  program
    .command('usage')
    .description('requests, tokens and cost per day, provider, model or user, for one user or everyone')
    .argument('[userId]', 'only this user (default: every user)', userIdArgument)
    .option('--from <day>', 'first UTC day included, YYYY-MM-DD (default: 30 days before --to)', dayArgument)
    .option('--to <day>', 'first UTC day excluded, YYYY-MM-DD (default: tomorrow)', dayArgument)
    .addOption(
      new Option(
        '--group-by <key>',
        'one line per day, provider, model or user (user: only for everyone)',
      ).choices(['day', 'provider', 'model', 'user']),
    )
    .option('--json', 'print JSON: from, to, groupBy, totals and groups, as GET /v1/usage returns them')
    .addHelpText(
      'after',
      `
Figures come from the daily rollups: INPUT is uncached input tokens, CACHED is cache reads and writes,
OUTPUT includes reasoning tokens, COST counts priced requests only (requests without a known price are
counted apart and said so). Default grouping: by day for one user, by user for everyone.
Examples:
  keyhaven usage alice --group-by provider
  keyhaven usage --from 2026-11-01 --to 2026-12-01 --json`,
    )
    .action((userId: string | undefined, options: UsageOptions) => {
      const groupBy: SummaryGroupBy = options.groupBy ?? (userId === undefined ? 'user' : 'day');
      if (groupBy === 'user' && userId !== undefined) {
        usageError(
          '--group-by user needs every user: leave out the userId, or group by day, provider or model',
        );
      }
      const range = resolveRange(options, new Date());
      if (range.from >= range.to) usageError('--from must be before --to (--to is the first day left out)');
      if (
        Date.parse(`${range.to}T00:00:00Z`) - Date.parse(`${range.from}T00:00:00Z`) >
        MAX_RANGE_DAYS * DAY_MS
      ) {
        usageError(`the range may span at most ${MAX_RANGE_DAYS} days`);
      }
      return withKeyhaven(async ({ database }) => {
        const { summarizeUsage } = await import('../../usage/index.ts');
        const summary = await summarizeUsage(database.db, {
          ...range,
          groupBy,
          ...(userId === undefined ? {} : { userId }),
        });
        if (options.json) {
          out(
            JSON.stringify(
              { ...range, groupBy, ...(userId === undefined ? {} : { userId }), ...summary },
              null,
              2,
            ),
          );
          return;
        }
        const who = userId ?? 'every user';
        const lastDay = isoDay(Date.parse(`${range.to}T00:00:00Z`) - DAY_MS);
        const when =
          range.from === lastDay ? `on ${lastDay} (UTC)` : `from ${range.from} through ${lastDay} (UTC)`;
        if (summary.groups.length === 0) {
          out(`No usage for ${who} ${when}.`);
          return;
        }
        out(`Usage of ${who} ${when}, by ${groupBy}:`);
        out('');
        const withProvider = groupBy === 'model';
        const header = [
          KEY_TITLE[groupBy],
          ...(withProvider ? ['PROVIDER'] : []),
          'REQUESTS',
          'INPUT',
          'OUTPUT',
          'CACHED',
          'VIDEO S',
          'IMAGES',
          'COST',
        ];
        const rows = summary.groups.map((group) => [
          group.key || '(none)',
          ...(withProvider ? [group.provider ?? ''] : []),
          ...figures(group),
        ]);
        rows.push(['TOTAL', ...(withProvider ? [''] : []), ...figures(summary.totals)]);
        const numeric = header.map((_, column) => column >= (withProvider ? 2 : 1));
        const lines = table(header, rows, numeric);
        // A rule above the total line.
        lines.splice(lines.length - 1, 0, '-'.repeat(Math.max(...lines.map((line) => line.length))));
        for (const line of lines) out(line);
        if (summary.totals.unpricedRequests > 0) {
          out('');
          const unpriced = summary.totals.unpricedRequests;
          out(
            `${integer(unpriced)} ${unpriced === 1 ? 'request has no known price and is' : 'requests have no known price and are'} ` +
              'not counted in COST (add the model to KEYHAVEN_PRICES_FILE)',
          );
        }
      });
    });
}
