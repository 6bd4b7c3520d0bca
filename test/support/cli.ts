import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs the real `keyhaven` binary (bin/keyhaven.js) with the given environment, by default in an empty
 * directory of its own, so no .env of the checkout (which the CLI would read) leaks in.
 */
export const BIN = fileURLToPath(new URL('../../bin/keyhaven.js', import.meta.url));

let emptyDirectory: string | undefined;
function defaultCwd(): string {
  emptyDirectory ??= mkdtempSync(join(tmpdir(), 'keyhaven-cli-cwd-'));
  return emptyDirectory;
}

export interface CliOptions {
  cwd?: string;
  /** Written to the command's standard input, which is then closed. */
  input?: string;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(
  args: string[],
  env: Record<string, string | undefined>,
  { cwd = defaultCwd(), input }: CliOptions = {},
): ChildProcess {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^(KEYHAVEN_|DATABASE_URL$|ENCRYPTION_KEY$|TEST_)/.test(name),
    ),
  );
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...clean, ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin?.end(input);
  return child;
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: CliOptions = {},
): Promise<CliResult> {
  return finished(startCli(args, env, options));
}
