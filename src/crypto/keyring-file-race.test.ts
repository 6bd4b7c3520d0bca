import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KEY_FILE_NAME, type Keyring, loadKeyring } from './keyring.ts';
import { createLocalKms } from './kms.ts';

/**
 * Concurrent first starts on one data directory. A second process can look at the key file at any
 * moment of the first one's creation: node:fs's writeSync is wrapped (the real function underneath) so
 * a test can run a second load exactly between "file created" and "key written". Own file, so the
 * mock does not reach other suites.
 */
const hooks = vi.hoisted(() => ({ beforeKeyWrite: undefined as (() => void) | undefined }));

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return {
    ...actual,
    writeSync: (...args: Parameters<typeof actual.writeSync>) => {
      const hook = hooks.beforeKeyWrite;
      if (hook && typeof args[1] === 'string' && args[1].startsWith('v1:')) {
        hooks.beforeKeyWrite = undefined;
        hook();
      }
      return actual.writeSync(...args);
    },
  };
});

const directories: string[] = [];
function dataDir(): string {
  const directory = mkdtempSync(join(tmpdir(), 'keyhaven-race-'));
  directories.push(directory);
  return join(directory, 'data');
}

beforeEach(() => {
  hooks.beforeKeyWrite = undefined;
});
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function expectSameKey(first: Keyring, second: Keyring) {
  const dek = randomBytes(32);
  const context = { tenant: 'default', userId: 'usr_alice', dekVersion: 1 };
  const wrapped = await createLocalKms(first).wrap(dek, context);
  expect(await createLocalKms(second).unwrap(wrapped, context)).toEqual(dek);
}

describe('key file creation under concurrency', () => {
  it('a load that runs while another is between creating and writing the file gets the same key', async () => {
    const directory = dataDir();
    const warnings: string[] = [];
    const warn = (message: string) => warnings.push(message);
    let second: Keyring | undefined;
    hooks.beforeKeyWrite = () => {
      second = loadKeyring({ env: {}, dataDir: directory, embedded: true, warn });
    };
    const first = loadKeyring({ env: {}, dataDir: directory, embedded: true, warn });
    expect(second).toBeDefined();
    if (!second) return;
    await expectSameKey(first, second);
    await expectSameKey(second, first);
    expect(warnings.filter((message) => message.includes('generated'))).toHaveLength(1);
    expect(readdirSync(directory)).toEqual([KEY_FILE_NAME]);
  });

  it('a failed write (disk full) leaves no empty key file behind to break the next start', () => {
    const directory = dataDir();
    hooks.beforeKeyWrite = () => {
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    };
    expect(() => loadKeyring({ env: {}, dataDir: directory, embedded: true, warn: () => {} })).toThrow(
      'ENOSPC',
    );
    expect(readdirSync(directory)).toEqual([]);
    const keyring = loadKeyring({ env: {}, dataDir: directory, embedded: true, warn: () => {} });
    expect(keyring.versions).toEqual([1]);
  });

  it('separate processes starting together on a fresh data directory all load the one key', async () => {
    const directory = dataDir();
    const keyringModule = fileURLToPath(new URL('./keyring.ts', import.meta.url));
    const startAt = Date.now() + 400;
    // Each child waits for a common instant, then loads; it prints a hash of the key, never the key.
    const script = `
      import { createHash } from 'node:crypto';
      import { loadKeyring } from ${JSON.stringify(keyringModule)};
      while (Date.now() < ${startAt}) {}
      let warnings = 0;
      const keyring = loadKeyring({ env: {}, dataDir: ${JSON.stringify(directory)}, embedded: true, warn: () => { warnings += 1; } });
      const key = keyring.key(keyring.activeVersion) ?? Buffer.alloc(0);
      console.log(JSON.stringify({ hash: createHash('sha256').update(key).digest('hex'), warnings }));
    `;
    const run = promisify(execFile);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => run(process.execPath, ['--input-type=module', '--eval', script])),
    );
    const outputs = results.map(({ stdout }) => JSON.parse(stdout) as { hash: string; warnings: number });
    expect(new Set(outputs.map((output) => output.hash)).size).toBe(1);
    expect(outputs.reduce((sum, output) => sum + output.warnings, 0)).toBe(1);
    expect(readdirSync(directory)).toEqual([KEY_FILE_NAME]);
    expect(readFileSync(join(directory, KEY_FILE_NAME), 'utf8')).toMatch(/^v1:[A-Za-z0-9+/]{43}=\n$/);
  }, 20_000);
});
