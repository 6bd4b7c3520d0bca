import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { finished, startCli } from '../../test/support/cli.ts';

/** `keyhaven serve` as `npm start` runs it: the real binary, a fresh data directory, a real port. */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in output:\n${seen}`)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
}

describe('keyhaven serve', () => {
  const dataDirs: string[] = [];
  afterEach(() => {
    for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('starts on a fresh data directory, prints its URL and an admin token once, and stops on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-serve-'));
    dataDirs.push(dataDir);
    const env = { KEYHAVEN_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn' };

    const first = startCli(['serve'], env);
    const result = finished(first);
    const output = await waitForOutput(first, /Admin token[^\n]*kha_[A-Za-z0-9_-]{43}\n/);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    const adminToken = /(kha_[A-Za-z0-9_-]{43})/.exec(output)?.[1];
    expect(url).toBeDefined();
    expect(adminToken).toBeDefined();
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const authorized = await fetch(`${url}/v1/providers`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(authorized.status).toBe(200);
    first.kill('SIGTERM');
    const exit = await result;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toContain('master key');

    // A restart keeps the stored token and never prints one again.
    const second = startCli(['serve'], env);
    const secondResult = finished(second);
    const secondOutput = await waitForOutput(second, /Admin token: the one generated on first start/);
    const secondUrl = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(secondOutput)?.[1];
    expect(secondOutput).not.toMatch(/kha_/);
    const again = await fetch(`${secondUrl}/v1/providers`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(again.status).toBe(200);
    second.kill('SIGTERM');
    expect((await secondResult).code).toBe(0);
  }, 150_000);

  it('refuses a bad PORT naming the variable, with exit code 2', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-serve-'));
    dataDirs.push(dataDir);
    const result = await finished(startCli(['serve'], { KEYHAVEN_DATA_DIR: dataDir, PORT: '99999' }));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('PORT');
  });
});
