import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import { redactSecrets, SecretValue } from '../../crypto/index.ts';
import { isKeyhavenError } from '../../errors.ts';
import type { Keyhaven } from '../../keyhaven.ts';
import {
  formatOf,
  ImportFileError,
  type ImportFormat,
  type ImportRow,
  readImportRows,
} from '../import-file.ts';
import { createProgress } from '../progress.ts';
import {
  EXIT_FAILED,
  ExitCode,
  err,
  out,
  positiveInteger,
  table,
  usageError,
  withKeyhaven,
} from '../shared.ts';

/**
 * `keyhaven import`: users' credentials in bulk. Each row is checked on its own (shape, provider,
 * fields, then the provider itself); good rows are stored, failed rows are reported and not stored, and
 * a row whose key is already the user's current one (same keyed fingerprint) is skipped, so a rerun
 * after fixing the failures stores only those.
 */
type Outcome = { kind: 'stored' | 'skipped' | 'checked' } | { kind: 'failed'; reason: string };

interface Failure {
  row: number;
  userId: string;
  provider: string;
  reason: string;
}

interface ImportOptions {
  format?: ImportFormat;
  validate: boolean;
  dryRun?: boolean;
  json?: boolean;
  concurrency: number;
}

const ACTOR = 'cli:import';
const MAX_RATE_LIMIT_RETRIES = 3;
const MAX_RETRY_WAIT_MS = 30_000;
const SHOWN_USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;
const SHOWN_PROVIDER = /^[a-z][a-z0-9-]{0,63}$/;

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description("bulk-import users' credentials from a JSON or CSV file, checking each row")
    .argument('<file>', 'the file to import (.json or .csv)')
    .addOption(
      new Option('--format <format>', 'file format (default: from the file name)').choices(['json', 'csv']),
    )
    .option('--no-validate', 'do not check keys with the providers (stored as unverified)')
    .option('--dry-run', 'check every row (and, unless --no-validate, with the provider) but store nothing')
    .option('--json', 'print the report as JSON')
    .option('--concurrency <n>', 'rows checked at the same time (at most 32)', positiveInteger, 4)
    .addHelpText(
      'after',
      `
Formats:
  JSON  [{"userId": "alice", "provider": "openai", "credentials": {"apiKey": "sk-...", "organization": "org-1"}}]
  CSV   userId,provider,apiKey,organization
        alice,openai,sk-...,org-1
        bob,anthropic,sk-ant-...,
        (RFC 4180: quote a field holding commas, quotes or line breaks; an empty cell is left out)

Each row is checked on its own: its shape, the provider and its credential fields, then the provider
itself (the cheapest authenticated call) unless --no-validate. Good rows are stored (a new version if
the user already has a different key), failed rows are listed with their row number (JSON: position in
the array; CSV: line, the header being line 1) and why, and are not stored. A row whose key is already
the user's current one is skipped, so after fixing the failed rows, run the same command again.
Keys are never printed. Exit code 1 when any row failed.`,
    )
    .action((file: string, options: ImportOptions) => {
      if (options.concurrency > 32) usageError('--concurrency must be at most 32');
      let rows: ImportRow[];
      try {
        const format = formatOf(file, options.format);
        rows = readImportRows(readContent(file), format);
      } catch (error) {
        if (error instanceof ImportFileError) usageError(`${file}: ${error.message}`);
        throw error;
      }
      if (rows.length === 0) usageError(`${file} has no rows to import`);
      return withKeyhaven((keyhaven) => runImport(keyhaven, rows, options));
    });
}

function readContent(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImportFileError(
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read it (${code})`,
    );
  }
}

async function runImport(keyhaven: Keyhaven, rows: ImportRow[], options: ImportOptions): Promise<void> {
  const progress = createProgress(options.dryRun ? 'check' : 'import');
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  const outcomes = new Map<number, Outcome>();
  // Rows for the same user and provider run in file order, so the last one in the file wins.
  const previous = new Map<string, Promise<unknown>>();
  let next = 0;
  let done = 0;
  let fatal: { error: unknown } | undefined;
  progress.update(0, rows.length);
  const worker = async () => {
    while (!interrupted && fatal === undefined && next < rows.length) {
      const index = next;
      next += 1;
      const row = rows[index] as ImportRow;
      const key = `${row.userId}|${row.provider}`;
      const before = previous.get(key);
      const task = (async () => {
        await before?.catch(() => {});
        return importRow(keyhaven, row, options);
      })();
      previous.set(key, task);
      try {
        outcomes.set(index, await task);
      } catch (error) {
        // A bug or a lost database: stop taking rows, let the others finish, then report it.
        fatal ??= { error };
        return;
      }
      done += 1;
      progress.update(done, rows.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency, rows.length) }, worker));
  } finally {
    progress.stop();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  if (fatal) {
    err(
      `Import stopped after ${done} of ${rows.length} rows; the rows stored so far are kept and skipped when you run it again.`,
    );
    throw fatal.error;
  }

  const failures: Failure[] = [];
  const counts = { stored: 0, skipped: 0, checked: 0, failed: 0, notProcessed: 0 };
  rows.forEach((row, index) => {
    const outcome = outcomes.get(index);
    if (!outcome) {
      counts.notProcessed += 1;
      return;
    }
    counts[outcome.kind] += 1;
    if (outcome.kind === 'failed') {
      failures.push({
        row: row.row,
        userId: row.userId !== undefined && SHOWN_USER_ID.test(row.userId) ? row.userId : '(invalid)',
        provider:
          row.provider !== undefined && SHOWN_PROVIDER.test(row.provider) ? row.provider : '(invalid)',
        reason: outcome.reason,
      });
    }
  });

  if (options.json) {
    out(
      JSON.stringify(
        {
          dryRun: options.dryRun === true,
          rows: rows.length,
          stored: counts.stored,
          skipped: counts.skipped,
          ...(options.dryRun ? { wouldStore: counts.checked } : {}),
          failed: failures,
          ...(interrupted ? { notProcessed: counts.notProcessed } : {}),
        },
        null,
        2,
      ),
    );
  } else {
    const parts = options.dryRun ? [`${counts.checked} would be stored`] : [`${counts.stored} stored`];
    parts.push(`${counts.skipped} already stored (skipped)`, `${failures.length} failed`);
    if (interrupted) parts.push(`${counts.notProcessed} not processed`);
    out(`${options.dryRun ? 'Dry run, nothing stored: ' : ''}${rows.length} rows: ${parts.join(', ')}`);
    if (failures.length > 0) {
      err(`${failures.length} ${failures.length === 1 ? 'row was' : 'rows were'} not stored:`);
      for (const line of table(
        ['ROW', 'USER', 'PROVIDER', 'REASON'],
        failures.map((failure) => [String(failure.row), failure.userId, failure.provider, failure.reason]),
      ))
        err(`  ${line}`);
      if (!options.dryRun)
        err('Fix these rows and run the same command again: rows already stored are skipped.');
    }
  }
  if (interrupted) {
    err('Import interrupted; run the same command again to finish (stored rows are skipped).');
    throw new ExitCode(EXIT_FAILED);
  }
  if (failures.length > 0) throw new ExitCode(EXIT_FAILED);
}

async function importRow(keyhaven: Keyhaven, row: ImportRow, options: ImportOptions): Promise<Outcome> {
  if (!row.ok) return { kind: 'failed', reason: row.problem };
  const spec = keyhaven.providers.catalog.get(row.provider);
  if (!spec) {
    return {
      kind: 'failed',
      reason: `unknown provider; use one of ${keyhaven.providers.catalog.providers().join(', ')}`,
    };
  }
  const input = { userId: row.userId, provider: row.provider, credentials: row.credentials };
  try {
    if (await keyhaven.vault.matchesCurrent(input)) return { kind: 'skipped' };
    if (options.dryRun) {
      if (!options.validate) return { kind: 'checked' };
      return await checkWithProvider(keyhaven, row.provider, row.credentials, spec.secretFields);
    }
    for (let attempt = 0; ; attempt += 1) {
      try {
        await keyhaven.vault.store({ ...input, validate: options.validate, actor: ACTOR });
        return { kind: 'stored' };
      } catch (error) {
        if (!isKeyhavenError(error, 'provider_rate_limited') || attempt >= MAX_RATE_LIMIT_RETRIES)
          throw error;
        await delay(Math.min(error.retryAfterMs ?? 1_000 * 2 ** attempt, MAX_RETRY_WAIT_MS));
      }
    }
  } catch (error) {
    // Expected failures carry messages written for the caller, free of secrets; anything else is a bug
    // or a broken database, which stops the import.
    if (!isKeyhavenError(error) || error.code === 'internal') throw error;
    if (error.code === 'provider_unavailable') {
      return {
        kind: 'failed',
        reason: `${row.provider} could not be reached to validate the credential; run again later, or with --no-validate`,
      };
    }
    if (error.code === 'invalid_request' && row.emptyFields) {
      return {
        kind: 'failed',
        reason: `${error.message} (empty in the file: ${row.emptyFields.join(', ')})`,
      };
    }
    return { kind: 'failed', reason: error.message };
  }
}

async function checkWithProvider(
  keyhaven: Keyhaven,
  provider: string,
  credentials: Record<string, string>,
  secretFields: readonly string[],
): Promise<Outcome> {
  const spec = keyhaven.providers.catalog.get(provider);
  const parsed = spec?.schema.safeParse(credentials);
  if (!parsed?.success) return { kind: 'failed', reason: `invalid credentials for ${provider}` };
  const secrets = Object.fromEntries(
    Object.entries(parsed.data).map(([name, value]) => [name, new SecretValue(value)]),
  );
  let result: Awaited<ReturnType<Keyhaven['providers']['validate']>>;
  try {
    result = await keyhaven.providers.validate(provider, secrets);
  } catch {
    result = { status: 'unreachable' };
  }
  switch (result.status) {
    case 'valid':
      return { kind: 'checked' };
    case 'invalid': {
      const secretValues = secretFields.flatMap((name) => (parsed.data[name] ? [parsed.data[name]] : []));
      return {
        kind: 'failed',
        reason: `${provider} refused the credential: ${redactSecrets(result.reason, secretValues).slice(0, 500)}`,
      };
    }
    case 'unreachable':
      return { kind: 'failed', reason: `${provider} could not be reached to validate the credential` };
    case 'rate_limited':
      return { kind: 'failed', reason: `${provider} rate-limited the validation request` };
  }
}
