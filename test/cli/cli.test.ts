import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { finished, runCli, startCli } from '../support/cli.ts';
import { targets, withKeyhaven } from './targets.ts';

const v1 = `v1:${generateMasterKey()}`;
const v2 = `v2:${generateMasterKey()}`;

describe('keyhaven CLI without a database', () => {
  it('master-key generate prints a fresh base64 key of 32 bytes, or an entry with --as', async () => {
    const first = await runCli(['master-key', 'generate'], {});
    const second = await runCli(['master-key', 'generate', '--as', 'v3'], {});
    expect(first.code).toBe(0);
    expect(Buffer.from(first.stdout.trim(), 'base64')).toHaveLength(32);
    expect(second.stdout.trim()).toMatch(/^v3:[A-Za-z0-9+/]{43}=$/);
    expect(second.stdout.trim().slice(3)).not.toBe(first.stdout.trim());
  });

  it('answers bad usage with exit code 2 and a pointer to --help', async () => {
    const unknown = await runCli(['no-such-command'], {});
    const badOption = await runCli(['rewrap', '--batch-size', 'many'], {});
    expect(unknown.code).toBe(2);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain('positive whole number');
    expect(badOption.stderr).toContain('--help');
  });

  it('refuses a malformed master key with exit code 2, naming the variable and never echoing the key', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-cli-'));
    try {
      const secretish = 'c2VjcmV0LW1hdGVyaWFsLXRoYXQtaXMtc2hvcnQ=';
      const result = await runCli(['audit', 'verify'], {
        KEYHAVEN_DATA_DIR: dataDir,
        KEYHAVEN_MASTER_KEYS: `v1:${secretish}`,
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('KEYHAVEN_MASTER_KEYS');
      expect(result.stderr + result.stdout).not.toContain(secretish);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

// Generous limits: each test starts a fresh database and several processes, and CI machines are shared.
describe.each(targets())('keyhaven CLI on $name', { timeout: 180_000 }, (target) => {
  beforeEach(() => {
    target.env();
  });
  afterEach(async () => {
    await target.cleanup();
  });

  it('audit verify passes on an intact log and exits 1 naming the first altered row', async () => {
    const env = { ...target.env(), KEYHAVEN_MASTER_KEYS: v1 };
    await withKeyhaven(env, async ({ vault }) => {
      for (let index = 0; index < 5; index += 1) {
        await vault.store({
          userId: 'audit-user',
          provider: 'openai',
          credentials: { apiKey: `sk-test-audit-${index}` },
          validate: false,
        });
      }
    });
    const intact = await runCli(['audit', 'verify'], env);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toContain('audit log intact');

    await withKeyhaven(env, async ({ database }) => {
      await sql`update audit_events set actor = 'someone-else' where seq = 3`.execute(database.db);
    });
    const broken = await runCli(['audit', 'verify'], env);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('broken at row 3');
  });

  it('rewrap killed with SIGKILL part-way resumes, and every credential reads with the old key removed', async () => {
    const users = 300;
    const base = target.env();
    const values = new Map<string, string>();
    await withKeyhaven({ ...base, KEYHAVEN_MASTER_KEYS: v1 }, async ({ vault }) => {
      for (let index = 0; index < users; index += 1) {
        const userId = `rewrap-user-${index}`;
        const apiKey = `sk-test-rewrap-${index}-${generateMasterKey().slice(0, 8)}`;
        values.set(userId, apiKey);
        await vault.store({ userId, provider: 'mistral', credentials: { apiKey }, validate: false });
      }
    });

    const rotated = { ...base, KEYHAVEN_MASTER_KEYS: `${v1},${v2}` };
    const child = startCli(['rewrap', '--batch-size', '1'], rotated);
    const result = finished(child);
    await new Promise<void>((resolve) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        const progress = /rewrap: (\d+)\/(\d+)/.exec(chunk.toString());
        if (progress && Number(progress[1]) >= users / 10) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.once('close', () => resolve());
    });
    const killed = await result;
    expect(killed.signal).toBe('SIGKILL');

    const partial = await withKeyhaven(rotated, ({ vault }) => vault.keyStatus());
    expect(partial.dataKeysByMasterKeyVersion[1]).toBeGreaterThan(0);
    expect(partial.dataKeysByMasterKeyVersion[2]).toBeGreaterThan(0);

    const resumed = await runCli(['rewrap'], rotated);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/rewrapped (\d+) of \1 data keys to master key v2/);

    const onlyNewKey = { ...base, KEYHAVEN_MASTER_KEYS: v2 };
    await withKeyhaven(onlyNewKey, async ({ vault }) => {
      const status = await vault.keyStatus();
      // Every user's data key and the audit chain's.
      expect(status.dataKeysByMasterKeyVersion).toEqual({ 2: users + 1 });
      for (const [userId, apiKey] of values) {
        const revealed = await vault.reveal({ userId, provider: 'mistral', purpose: 'test' });
        expect(revealed.credentials.apiKey?.reveal()).toBe(apiKey);
      }
    });

    const minVersion = await runCli(['master-key', 'set-min-version', 'v2'], onlyNewKey);
    expect(minVersion.code).toBe(0);
    const verify = await runCli(['audit', 'verify'], onlyNewKey);
    expect(verify.code).toBe(0);
  });

  it('refuses to raise the minimum decryption version while a data key still uses an older master key', async () => {
    const base = target.env();
    await withKeyhaven({ ...base, KEYHAVEN_MASTER_KEYS: v1 }, ({ vault }) =>
      vault.store({
        userId: 'min-user',
        provider: 'luma',
        credentials: { apiKey: 'sk-test-luma-0001' },
        validate: false,
      }),
    );
    const rotated = { ...base, KEYHAVEN_MASTER_KEYS: `${v1},${v2}` };
    const refused = await runCli(['master-key', 'set-min-version', 'v2'], rotated);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('run rewrap first');
    const status = await runCli(['master-key', 'status', '--json'], rotated);
    expect(JSON.parse(status.stdout)).toMatchObject({ activeVersion: 2, minDecryptVersion: 1 });
  });
});
