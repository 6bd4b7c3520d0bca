import { randomBytes } from 'node:crypto';
import { type Kysely, type KyselyPlugin, sql } from 'kysely';
import { expect } from 'vitest';
import {
  createLocalKms,
  generateMasterKey,
  type Kms,
  parseMasterKeys,
  type SecretValue,
} from '../../src/crypto/index.ts';
import { KeyhavenError } from '../../src/errors.ts';
import type { Tables } from '../../src/store/index.ts';
import type { ValidateCredential, ValidationResult } from '../../src/vault/index.ts';

/** Shared helpers for the vault and store suites: keys, fake validators, fault injection, dumps. */

export const catalogProviders = [
  'openai',
  'anthropic',
  'google-gemini',
  'google-veo',
  'runway',
  'stability',
  'luma',
  'mistral',
] as const;

/** Master keys for a test keyring, by version: `masterKeys(1, 2)` -> 'v1:<base64>,v2:<base64>'. */
export function masterKeySet(...versions: number[]): Map<number, string> {
  return new Map(versions.map((version) => [version, generateMasterKey()]));
}

export function keyringValue(keys: ReadonlyMap<number, string>, versions: readonly number[]): string {
  return versions
    .map((version) => {
      const key = keys.get(version);
      if (key === undefined) throw new Error(`no test master key v${version}`);
      return `v${version}:${key}`;
    })
    .join(',');
}

export function kmsFor(keys: ReadonlyMap<number, string>, versions: readonly number[], active?: number): Kms {
  return createLocalKms(
    parseMasterKeys(keyringValue(keys, versions), active === undefined ? undefined : `v${active}`),
  );
}

/**
 * One master key for every vault of a test process, as one deployment has one keyring: vaults sharing a
 * database must share it (the audit chain's data key is wrapped by it).
 */
const processMasterKey = `v1:${generateMasterKey()}`;

export function singleKeyKms(): Kms {
  return createLocalKms(parseMasterKeys(processMasterKey));
}

/** An obviously fake API key: `sk-test-<label>-<random letters>` (letters only, so no accidental hex). */
export function fakeApiKey(label = 'key'): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const random = [...randomBytes(20)].map((byte) => letters[byte % letters.length]).join('');
  return `sk-test-${label}-${random}`;
}

export function randomUserId(prefix = 'user'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export interface FakeValidator {
  validate: ValidateCredential;
  /** Every call, with the provider and the revealed field values. */
  calls: { provider: string; fields: Record<string, string> }[];
  /** Overrides the outcome for every following call; undefined restores the default (by key content). */
  respond(outcome: ((fields: Record<string, string>) => ValidationResult) | undefined): void;
}

/**
 * A provider stand-in. By default the outcome follows markers in the key: `invalid` (refused, with a
 * reason that echoes the key as some providers do), `unreachable`, `ratelimited` (retry after 1500 ms),
 * `throws` (an exception whose message holds the key); anything else is valid.
 */
export function createFakeValidator(): FakeValidator {
  const calls: FakeValidator['calls'] = [];
  let override: ((fields: Record<string, string>) => ValidationResult) | undefined;
  const validate: ValidateCredential = async (provider, credentials) => {
    const fields = Object.fromEntries(
      Object.entries(credentials).map(([name, value]: [string, SecretValue]) => [name, value.reveal()]),
    );
    calls.push({ provider, fields });
    if (override) return override(fields);
    const key = fields.apiKey ?? fields.serviceAccount ?? '';
    if (key.includes('invalid')) return { status: 'invalid', reason: `Incorrect API key provided: ${key}` };
    if (key.includes('unreachable')) return { status: 'unreachable' };
    if (key.includes('ratelimited')) return { status: 'rate_limited', retryAfterMs: 1500 };
    if (key.includes('throws')) throw new Error(`socket hang up while checking ${key}`);
    return { status: 'valid' };
  };
  return {
    validate,
    calls,
    respond(outcome) {
      override = outcome;
    },
  };
}

/** Runs a call that must fail and returns what it threw. */
export async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Runs a call that must fail with a KeyhavenError of the given code, and returns the error. */
export async function expectKeyhavenError(
  run: () => Promise<unknown>,
  code: KeyhavenError['code'],
): Promise<KeyhavenError> {
  const error = await failure(run);
  expect(error, `expected a KeyhavenError ${code}, got ${String(error)}`).toBeInstanceOf(KeyhavenError);
  expect((error as KeyhavenError).code).toBe(code);
  return error as KeyhavenError;
}

/** Every textual form an error can leak through. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return [String(error), error.message, error.stack ?? '', JSON.stringify(error)].join('\n');
}

/** The forms a secret is usually found in once it escapes. */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, bytes.toString('hex'), bytes.toString('base64'), encodeURIComponent(secret)];
}

/**
 * Every row of every table of the current schema as text, with bytea rendered as hex by PostgreSQL's
 * text output (`\x…`), plus each bytea value again as base64.
 */
export async function dumpDatabase(db: Kysely<Tables>): Promise<string> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db);
  const byteaColumns = await sql<{ table_name: string; column_name: string }>`
    select table_name, column_name from information_schema.columns
    where table_schema = current_schema() and data_type = 'bytea'`.execute(db);
  const parts: string[] = [];
  for (const { table_name } of tables.rows) {
    const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(table_name)} as t`.execute(
      db,
    );
    parts.push(`-- ${table_name}`, ...rows.rows.map((row) => row.row));
  }
  for (const { table_name, column_name } of byteaColumns.rows) {
    const rows = await sql<{ value: string }>`
      select encode(${sql.ref(column_name)}, 'base64') as value from ${sql.table(table_name)}`.execute(db);
    parts.push(
      `-- ${table_name}.${column_name} base64`,
      ...rows.rows.map((row) => row.value.replace(/\n/g, '')),
    );
  }
  if (!parts.some((part) => part === '-- credentials')) throw new Error('the dump did not find the tables');
  return parts.join('\n');
}

/** Wraps a KMS, counting calls, and optionally failing wraps after a number of successful ones. */
export interface CountingKms extends Kms {
  readonly unwraps: number;
  readonly wraps: number;
  reset(): void;
}

export function countingKms(inner: Kms, { failWrapsAfter }: { failWrapsAfter?: number } = {}): CountingKms {
  let unwraps = 0;
  let wraps = 0;
  return {
    activeVersion: () => inner.activeVersion(),
    versions: () => inner.versions(),
    async wrap(dataKey, context) {
      wraps += 1;
      if (failWrapsAfter !== undefined && wraps > failWrapsAfter) {
        throw new Error('the key management service is unavailable');
      }
      return inner.wrap(dataKey, context);
    },
    async unwrap(wrapped, context) {
      unwraps += 1;
      return inner.unwrap(wrapped, context);
    },
    get unwraps() {
      return unwraps;
    },
    get wraps() {
      return wraps;
    },
    reset() {
      unwraps = 0;
      wraps = 0;
    },
  };
}

/**
 * A Kysely plugin that makes chosen queries fail, as a broken connection or a full disk would:
 * `shouldFail` sees each query's compiled-from node kind and the table it writes to (if any).
 */
export function failingQueries(
  shouldFail: (query: { kind: string; table: string | undefined; sql: string | undefined }) => boolean,
): KyselyPlugin {
  return {
    transformQuery(args) {
      const node = args.node as {
        kind: string;
        into?: { table: { identifier: { name: string } } };
        table?: { table: { identifier: { name: string } } };
        sqlFragments?: readonly string[];
      };
      const table = node.into?.table.identifier.name ?? node.table?.table.identifier.name;
      const text = node.sqlFragments?.join('?');
      if (shouldFail({ kind: node.kind, table, sql: text })) {
        throw new Error('injected database failure');
      }
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
}
