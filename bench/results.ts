import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, totalmem } from 'node:os';

/** One measured figure of any benchmark, beside its baseline when it has one. */
export interface BenchRow {
  /** Which benchmark it comes from: gateway, vault, usage. */
  group: string;
  benchmark: string;
  database: string;
  value: number;
  unit: string;
  baseline?: number;
  baselineName?: string;
  ratio?: number;
  /** How the ratio is computed, e.g. "keyhaven / direct". */
  ratioName?: string;
  note?: string;
}

export const RESULTS_DIR = 'bench/results';

export function formatNumber(value: number): string {
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export function machine() {
  const processors = cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${arch()}`,
    cpu: processors[0]?.model ?? 'unknown',
    cores: processors.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

export function markdownTable(rows: readonly BenchRow[]): string {
  return [
    '| benchmark | database | result | baseline | ratio | note |',
    '|---|---|---|---|---|---|',
    ...rows.map((row) => {
      const baseline =
        row.baseline === undefined
          ? ''
          : `${formatNumber(row.baseline)}${row.baselineName ? ` (${row.baselineName})` : ''}`;
      const ratio =
        row.ratio === undefined
          ? ''
          : `${row.ratio.toFixed(2)}${row.ratioName ? ` (${row.ratioName})` : 'x'}`;
      return `| ${row.benchmark} | ${row.database} | ${formatNumber(row.value)} ${row.unit} | ${baseline} | ${ratio} | ${row.note ?? ''} |`;
    }),
  ].join('\n');
}

/** Writes bench/results/<name>.json and <name>.md (the folder is git-ignored) and prints the table. */
export function writeResults(
  name: string,
  details: Record<string, unknown>,
  rows: readonly BenchRow[],
): void {
  const table = markdownTable(rows);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(
    `${RESULTS_DIR}/${name}.json`,
    `${JSON.stringify({ date: new Date().toISOString(), machine: machine(), ...details, rows }, null, 2)}\n`,
  );
  writeFileSync(
    `${RESULTS_DIR}/${name}.md`,
    `Measured ${new Date().toISOString()} on ${describeMachine()}\n\n${table}\n`,
  );
  console.log(table);
}

export function describeMachine(): string {
  const info = machine();
  return `${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, ${info.platform}, Node ${info.node}`;
}
