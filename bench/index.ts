/**
 * npm run bench — every benchmark in one run: the passthrough gateway against the simulator called
 * directly (bench/gateway.ts), the vault (bench/vault.ts) and usage summaries and ingest (bench/usage.ts).
 * Writes bench/results/bench.json and bench/results/bench.md (git-ignored).
 * Usage: node bench/index.ts [--quick] [--postgres postgres://...] [--redis redis://...] [--only gateway,vault,usage]
 * --quick (or BENCH_QUICK=1): shorter measurements and smaller data, well under a minute.
 * --postgres (or BENCH_POSTGRES_URL): the server, vault and usage figures on PostgreSQL too (each in its own
 * schema, dropped at the end); without it everything runs on the embedded database.
 * --redis (or BENCH_REDIS_URL): the server keeps its rate limits in Redis, as a scaled-out deployment does.
 */
import { parseArgs } from 'node:util';
import { benchGateway, type GatewayScenarioResult } from './gateway.ts';
import { type BenchRow, describeMachine, writeResults } from './results.ts';
import { benchUsage } from './usage.ts';
import { benchVault } from './vault.ts';

const GROUPS = ['gateway', 'vault', 'usage'] as const;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
    postgres: { type: 'string', default: process.env.BENCH_POSTGRES_URL },
    redis: { type: 'string', default: process.env.BENCH_REDIS_URL },
    only: { type: 'string', default: GROUPS.join(',') },
  },
});
const quick = values.quick;
const postgresUrl = values.postgres || undefined;
const redisUrl = values.redis || undefined;
const only = new Set(values.only.split(',').map((name) => name.trim()));
const progress = (line: string) => process.stderr.write(`${line}\n`);

const started = performance.now();
const rows: BenchRow[] = [];
let scenarios: GatewayScenarioResult[] = [];
progress(`${quick ? 'quick ' : ''}benchmarks on ${describeMachine()}`);

if (only.has('gateway')) {
  progress('gateway: Keyhaven and the simulator in their own processes...');
  const gateway = await benchGateway({ quick, postgresUrl, redisUrl, progress });
  scenarios = gateway.scenarios;
  rows.push(...gateway.rows);
}
if (only.has('vault')) {
  progress('vault: reveal, store, rewrap...');
  rows.push(...(await benchVault({ postgresUrl, ...(quick ? { seconds: 0.3, users: 1_000 } : {}) })));
}
if (only.has('usage')) {
  progress('usage: bulk load, summaries, ingest...');
  const usage = await benchUsage({
    postgresUrl,
    ...(quick ? { events: 20_000, runs: 5, ingest: 5_000 } : {}),
  });
  rows.push(...usage.rows);
}

const targets = scenarios.length
  ? {
      throughputAt16Connections: scenarios
        .filter((scenario) => scenario.connections === 16)
        .map((scenario) => ({
          scenario: scenario.scenario,
          ratio: scenario.throughputRatio,
          met: scenario.throughputRatio >= 0.35,
        })),
      latencyAt1Connection: scenarios
        .filter((scenario) => scenario.connections === 1)
        .map((scenario) => ({
          scenario: scenario.scenario,
          addedMedianMs: scenario.addedMedianMs,
          addedP99Ms: scenario.addedP99Ms,
          met: scenario.addedMedianMs <= 0.3 && scenario.addedP99Ms <= 2,
        })),
    }
  : undefined;
writeResults(
  'bench',
  {
    quick,
    database: postgresUrl ? 'postgres' : 'pglite',
    rateLimitStore: redisUrl ? 'redis' : postgresUrl ? 'postgres' : 'memory',
    seconds: Math.round((performance.now() - started) / 1000),
    targets,
    scenarios,
  },
  rows,
);
progress(`done in ${((performance.now() - started) / 1000).toFixed(0)} s: bench/results/bench.{json,md}`);
