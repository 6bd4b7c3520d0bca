import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey, loadKeyring } from '../../src/crypto/index.ts';
import { createTokenService } from '../../src/server/auth.ts';
import { type Simulator, simulatorEnvironment, startProviderSimulator } from '../../src/simulator/index.ts';
import { MISTRAL_SIMULATOR_KEY } from '../../src/simulator/providers/mistral.ts';
import { createUsageStore, type UsageRecord } from '../../src/usage/index.ts';
import { expectNoCanary } from '../support/canary.ts';
import { type CliResult, runCli } from '../support/cli.ts';
import { targets, withKeyhaven } from './targets.ts';

/**
 * The operator commands through the real binary: init, tokens, credentials and import, against the
 * provider simulator. Every output is checked for the keys it handled (canaries).
 */
const masterKeys = `v1:${generateMasterKey()}`;
const acceptedKey = `sk-test-canary-${randomBytes(12).toString('hex')}`;
const rejectedKey = `sk-test-refused-${randomBytes(12).toString('hex')}`;

/** Seeded usage: 1000 × 2.50 + 500 × 10 micro-USD = $0.0075 per call at gpt-4o's price. */
function usageRecord(
  parts: Pick<UsageRecord, 'userId' | 'provider' | 'model'> & Partial<UsageRecord>,
): UsageRecord {
  return {
    credentialVersion: 1,
    requestId: `req_${randomBytes(6).toString('hex')}`,
    route: 'passthrough',
    inputTokens: 1000,
    outputTokens: 500,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    videoSeconds: 0,
    images: 0,
    status: 200,
    latencyMs: 100,
    occurredAt: new Date(),
    ...parts,
  };
}

const usageRecords = [
  usageRecord({ userId: 'usage-a', provider: 'openai', model: 'gpt-4o' }),
  usageRecord({ userId: 'usage-a', provider: 'openai', model: 'gpt-4o' }),
  usageRecord({
    userId: 'usage-a',
    provider: 'mistral',
    model: 'no-such-model',
    inputTokens: 7,
    outputTokens: 0,
  }),
  usageRecord({ userId: 'usage-b', provider: 'openai', model: 'gpt-4o' }),
];

function expectNoKeys(results: CliResult[]): void {
  for (const [index, result] of results.entries()) {
    for (const key of [acceptedKey, rejectedKey]) {
      expectNoCanary(key, result.stdout, `stdout of run ${index}`);
      expectNoCanary(key, result.stderr, `stderr of run ${index}`);
    }
  }
}

describe('keyhaven CLI commands without a database', { timeout: 90_000 }, () => {
  let directory = '';
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'keyhaven-init-'));
  });
  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('init writes a 0600 .env that Keyhaven starts with, never prints its secrets and never overwrites it', async () => {
    const first = await runCli(['init'], {}, { cwd: directory });
    expect(first.code).toBe(0);
    const path = join(directory, '.env');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const written = readFileSync(path, 'utf8');
    const values = parseEnv(written);
    expect(values.KEYHAVEN_MASTER_KEYS).toMatch(/^v1:[A-Za-z0-9+/]{43}=$/);
    expect(values.KEYHAVEN_ADMIN_TOKEN?.length).toBeGreaterThanOrEqual(32);
    expect(written).toMatch(/^# DATABASE_URL=/m);
    expect(written).toMatch(/^# REDIS_URL=/m);
    expect(written).toMatch(/^# PORT=/m);
    const printed = first.stdout + first.stderr;
    expect(printed).not.toContain(values.KEYHAVEN_MASTER_KEYS?.slice(3, 30));
    expect(printed).not.toContain(values.KEYHAVEN_ADMIN_TOKEN?.slice(4, 30));
    expect(first.stdout).toContain('KEYHAVEN_MASTER_KEYS');
    expect(first.stdout).toContain('Next: run `keyhaven serve`');

    // What init wrote is a configuration Keyhaven accepts: the token passes the config check, the master
    // key loads as version 1 of the keyring.
    expect(loadConfig(values).adminToken).toBe(values.KEYHAVEN_ADMIN_TOKEN);
    const keyring = loadKeyring({ env: values, dataDir: directory, embedded: false, warn: () => {} });
    expect(keyring.activeVersion).toBe(1);
    keyring.destroy();

    // The CLI reads .env from the current directory: a bad value there stops it like one in the environment.
    const badPort = join(directory, 'bad-port');
    mkdirSync(badPort);
    writeFileSync(join(badPort, '.env'), `KEYHAVEN_DATA_DIR=${join(badPort, 'data')}\nPORT=99999\n`);
    const [again, elsewhere, fromDotEnv] = await Promise.all([
      runCli(['init'], {}, { cwd: directory }),
      runCli(['init', '--dir', 'deploy/keyhaven'], {}, { cwd: directory }),
      runCli(['serve'], {}, { cwd: badPort }),
    ]);
    expect(fromDotEnv.code).toBe(2);
    expect(fromDotEnv.stderr).toContain('PORT');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    expect(again.stderr).toContain('--dir');
    expect(readFileSync(path, 'utf8')).toBe(written);
    expect(elsewhere.code).toBe(0);
    const other = readFileSync(join(directory, 'deploy/keyhaven/.env'), 'utf8');
    expect(parseEnv(other).KEYHAVEN_MASTER_KEYS).not.toBe(values.KEYHAVEN_MASTER_KEYS);
    expect(elsewhere.stdout).toContain('cd deploy/keyhaven');
  });

  it('every new command has --help, and bad usage exits 2 with a message that says what to do', async () => {
    const helps: [string[], string][] = [
      [['init', '--help'], '--dir'],
      [['credentials', '--help'], 'delete'],
      [['credentials', 'list', '--help'], '--json'],
      [['credentials', 'test', '--help'], 'exits 1'],
      [['credentials', 'delete', '--help'], '--yes'],
      [['tokens', 'create', '--help'], '--ttl'],
      [['tokens', 'revoke', '--help'], 'khu_'],
      [['import', '--help'], 'userId,provider,apiKey,organization'],
      [['usage', '--help'], '--group-by'],
    ];
    const csv = join(directory, 'rows.txt');
    writeFileSync(csv, 'userId,provider,apiKey\nalice,openai,sk-test-1\n');
    const badJson = join(directory, 'bad.json');
    writeFileSync(
      badJson,
      `[{"userId": "alice", "provider": "openai", "credentials": {"apiKey": "${acceptedKey}"}`,
    );
    const bad: [string[], string][] = [
      [['tokens', 'create', 'alice', '--ttl', 'forever'], '15m, 1h or 30d'],
      [['tokens', 'create', 'alice', '--ttl', '31d'], 'between 60 seconds and 30 days'],
      [['tokens', 'revoke', 'not-a-token'], 'khu_'],
      [['credentials', 'test', 'alice'], "missing required argument 'provider'"],
      [['credentials', 'list', 'not a user id'], 'letters, digits'],
      [['import', csv], '--format'],
      [['import', join(directory, 'missing.json')], 'no such file'],
      [['import', badJson], 'not valid JSON'],
      [['credentials', 'delete', 'casey', 'openai'], 'not a terminal, so pass --yes'],
      [['credentials', 'test', 'casey', 'nope'], 'must be one of openai, anthropic'],
      [['usage', 'alice', '--group-by', 'user'], 'leave out the userId'],
      [['usage', '--from', '2026-02-30'], 'calendar date'],
      [['usage', '--from', '2026-11-02', '--to', '2026-11-01'], '--from must be before --to'],
    ];
    const results = await Promise.all([
      ...helps.map(([args]) => runCli(args, {})),
      ...bad.map(([args]) => runCli(args, {})),
    ]);
    helps.forEach(([args, expected], index) => {
      const result = results[index] as CliResult;
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toContain(`Usage: keyhaven ${args[0]}`);
      expect(result.stdout, args.join(' ')).toContain(expected);
    });
    bad.forEach(([args, expected], index) => {
      const result = results[helps.length + index] as CliResult;
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain(expected);
    });
    expectNoKeys(results);
  });
});

// Generous limits: each run is a new process, and CI machines are shared.
describe.each(targets())('keyhaven CLI commands on $name', { timeout: 180_000 }, (target) => {
  let simulator: Simulator;
  let env: Record<string, string>;

  // One database for the whole block, seeded in one go (opening an embedded one costs seconds); the
  // tests use distinct users.
  beforeAll(async () => {
    simulator = await startProviderSimulator({ keys: { openai: [acceptedKey] } });
    env = { ...target.env(), ...simulatorEnvironment(simulator), KEYHAVEN_MASTER_KEYS: masterKeys };
    await withKeyhaven(env, async ({ vault, database, prices }) => {
      await vault.store({ userId: 'casey', provider: 'openai', credentials: { apiKey: acceptedKey } });
      await vault.store({
        userId: 'casey',
        provider: 'anthropic',
        credentials: { apiKey: rejectedKey },
        validate: false,
      });
      const usage = createUsageStore({ db: database.db, prices });
      for (const record of usageRecords) usage.record(record);
      await usage.close();
    });
  });
  afterAll(async () => {
    await simulator.close();
    await target.cleanup();
  });

  it('tokens create mints a token the token service accepts; tokens revoke ends it', async () => {
    const created = await runCli(['tokens', 'create', 'alice', '--ttl', '2h', '--json'], env);
    expect(created.code).toBe(0);
    const minted = JSON.parse(created.stdout) as {
      id: string;
      token: string;
      userId: string;
      createdAt: string;
      expiresAt: string;
    };
    expect(minted).toMatchObject({ userId: 'alice', id: expect.stringMatching(/^khu_[0-9a-f]{24}$/) });
    expect(Date.parse(minted.expiresAt) - Date.parse(minted.createdAt)).toBe(2 * 3_600_000);

    // Plain output: only the token on stdout, so TOKEN=$(keyhaven tokens create bob) works.
    const plain = await runCli(['tokens', 'create', 'bob'], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^khu_[0-9a-f]{24}\.[A-Za-z0-9_-]{43}\n$/);
    expect(plain.stderr).toContain('valid for 1h');

    const revoked = await runCli(['tokens', 'revoke', minted.id], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`Revoked ${minted.id}`);
    const unknown = await runCli(['tokens', 'revoke', `khu_${'0'.repeat(24)}`], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no such token');

    // The token service accepts what create printed, and no longer what was revoked.
    await withKeyhaven(env, async ({ database }) => {
      const tokens = createTokenService({ db: database.db });
      const bob = await tokens.authenticate(`Bearer ${plain.stdout.trim()}`);
      expect(bob).toMatchObject({ kind: 'user', userId: 'bob' });
      await expect(tokens.authenticate(`Bearer ${minted.token}`)).rejects.toThrow('valid bearer token');
    });
  });

  it('credentials test, list and delete a user’s keys with the provider’s reason, never the key', async () => {
    const results: CliResult[] = [];
    const run = async (args: string[]) => {
      const result = await runCli(args, env);
      results.push(result);
      return result;
    };

    const valid = await run(['credentials', 'test', 'casey', 'openai']);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toContain('openai credential of casey is valid');
    const invalid = await run(['credentials', 'test', 'casey', 'anthropic']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('invalid x-api-key');

    const table = await run(['credentials', 'list', 'casey']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^openai\s+valid\s+\S*\s+v1\s/m);
    expect(table.stdout).toMatch(/^anthropic\s+invalid \(.*invalid x-api-key.*\)/m);
    expect(table.stdout).toMatch(/^mistral\s+not connected/m);
    expect(table.stdout).toContain('2 of 8 providers connected for casey');
    expect(table.stdout).not.toContain('\u001b[');

    const deleted = await run(['credentials', 'delete', 'casey', 'openai', '--yes']);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain("Deleted casey's openai credential");

    const listed = await run(['credentials', 'list', 'casey', '--json']);
    expect(listed.code).toBe(0);
    const summaries = JSON.parse(listed.stdout) as { provider: string; connected: boolean; status: string }[];
    expect(summaries.find((summary) => summary.provider === 'openai')).toMatchObject({ connected: false });
    expect(summaries.find((summary) => summary.provider === 'anthropic')).toMatchObject({
      connected: true,
      status: 'invalid',
    });
    expectNoKeys(results);
  });

  it('import stores good JSON and CSV rows, reports each failed row, and a rerun skips what is stored', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'keyhaven-import-'));
    try {
      const json = join(directory, 'keys.json');
      writeFileSync(
        json,
        JSON.stringify([
          { userId: 'alice', provider: 'openai', credentials: { apiKey: acceptedKey } },
          { userId: 'bob', provider: 'mistral', credentials: { apiKey: MISTRAL_SIMULATOR_KEY } },
          { userId: 'carol', provider: 'openai' },
          { userId: 'dave', provider: 'openai', credentials: { apiKey: rejectedKey } },
          { userId: 'erin', provider: 'no-such-provider', credentials: { apiKey: acceptedKey } },
        ]),
      );
      const csv = join(directory, 'keys.csv');
      writeFileSync(
        csv,
        [
          'userId,provider,apiKey,organization',
          `frank,openai,${acceptedKey},"org ""one"", two"`,
          `grace,openai,"${rejectedKey}",`,
          'heidi,openai',
          'judy,openai,,org-2',
          `"ivan",mistral,${MISTRAL_SIMULATOR_KEY},`,
          '',
        ].join('\r\n'),
      );

      const first = await runCli(['import', json], env);
      expect(first.code).toBe(1);
      expect(first.stdout).toContain('5 rows: 2 stored, 0 already stored (skipped), 3 failed');
      expect(first.stderr).toContain('3 rows were not stored');
      expect(first.stderr).toMatch(/^\s+3\s+carol\s+openai\s+credentials: /m);
      expect(first.stderr).toMatch(
        /^\s+4\s+dave\s+openai\s+openai refused the credential: .*Incorrect API key/m,
      );
      expect(first.stderr).toMatch(/^\s+5\s+erin\s+no-such-provider\s+unknown provider; use one of openai/m);
      expect(first.stderr).toContain('import: 5/5');

      // A dry run checks every row with the provider too, and stores nothing (the import after it stores).
      const dryRun = await runCli(['import', csv, '--dry-run', '--json'], env);
      expect(dryRun.code).toBe(1);
      expect(JSON.parse(dryRun.stdout)).toMatchObject({ dryRun: true, stored: 0, skipped: 0, wouldStore: 2 });
      expect(
        (JSON.parse(dryRun.stdout) as { failed: { row: number; reason: string }[] }).failed.map((failure) => [
          failure.row,
          failure.reason.slice(0, 29),
        ]),
      ).toEqual([
        [3, 'openai refused the credential'],
        [4, 'has 2 fields, the header has '],
        [5, 'invalid credentials for opena'],
      ]);

      const fromCsv = await runCli(['import', csv, '--json'], env);
      expect(fromCsv.code).toBe(1);
      expect(JSON.parse(fromCsv.stdout)).toEqual({
        dryRun: false,
        rows: 5,
        stored: 2,
        skipped: 0,
        failed: [
          {
            row: 3,
            userId: 'grace',
            provider: 'openai',
            reason: expect.stringContaining('openai refused the credential'),
          },
          { row: 4, userId: 'heidi', provider: 'openai', reason: 'has 2 fields, the header has 4' },
          {
            row: 5,
            userId: 'judy',
            provider: 'openai',
            reason: expect.stringContaining('apiKey must be a string (empty in the file: apiKey)'),
          },
        ],
      });

      await withKeyhaven(env, async ({ vault }) => {
        const alice = await vault.reveal({ userId: 'alice', provider: 'openai', purpose: 'test' });
        expect(alice.credentials.apiKey?.reveal()).toBe(acceptedKey);
        const frank = await vault.reveal({ userId: 'frank', provider: 'openai', purpose: 'test' });
        expect(frank.credentials.organization?.reveal()).toBe('org "one", two');
        expect(await vault.get({ userId: 'ivan', provider: 'mistral' })).toMatchObject({ status: 'valid' });
        for (const [userId, provider] of [
          ['carol', 'openai'],
          ['dave', 'openai'],
          ['grace', 'openai'],
          ['heidi', 'openai'],
          ['judy', 'openai'],
        ] as const) {
          expect((await vault.get({ userId, provider })).connected, userId).toBe(false);
        }
      });

      // Nothing is stored again (no new version): the good rows are skipped, the bad ones still fail.
      const rerun = await runCli(['import', json, '--json'], env);
      expect(rerun.code).toBe(1);
      const report = JSON.parse(rerun.stdout) as {
        stored: number;
        skipped: number;
        failed: { row: number }[];
      };
      expect(report).toMatchObject({ stored: 0, skipped: 2 });
      expect(report.failed.map((failure) => failure.row)).toEqual([3, 4, 5]);
      expectNoKeys([first, dryRun, fromCsv, rerun]);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('usage prints a table per provider for a user, and JSON for every user', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const byProvider = await runCli(['usage', 'usage-a', '--group-by', 'provider'], env);
    expect(byProvider.code).toBe(0);
    const lines = byProvider.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^Usage of usage-a from \\d{4}-\\d{2}-\\d{2} through ${day} \\(UTC\\), by provider:$`),
    );
    expect(byProvider.stdout).toMatch(
      /^PROVIDER\s+REQUESTS\s+INPUT\s+OUTPUT\s+CACHED\s+VIDEO S\s+IMAGES\s+COST$/m,
    );
    expect(byProvider.stdout).toMatch(/^openai\s+2\s+2,000\s+1,000\s+0\s+0\s+0\s+\$0\.0150$/m);
    expect(byProvider.stdout).toMatch(/^mistral\s+1\s+7\s+0\s+/m);
    expect(byProvider.stdout).toMatch(/^TOTAL\s+3\s+2,007\s+1,000\s+.*\$0\.0150$/m);
    expect(byProvider.stdout).toContain('1 request has no known price');

    const everyone = await runCli(['usage', '--json'], env);
    expect(everyone.code).toBe(0);
    const summary = JSON.parse(everyone.stdout) as {
      groupBy: string;
      totals: { requests: number; costMicroUsd: number };
      groups: { key: string; requests: number }[];
    };
    expect(summary.groupBy).toBe('user');
    expect(summary.totals).toMatchObject({ requests: 4, costMicroUsd: 22_500 });
    expect(summary.groups.map((group) => [group.key, group.requests])).toEqual([
      ['usage-a', 3],
      ['usage-b', 1],
    ]);
  });
});
