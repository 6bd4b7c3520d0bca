import type { ChildProcess } from 'node:child_process';
import { finished, startCli } from './cli.ts';

/**
 * `keyhaven serve` in a process of its own on a free port, for suites that kill, restart or load it.
 * Resolves once it prints the URL it listens on; its output is kept for failure messages.
 */
export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown hook runs. */
  kill(): Promise<void>;
  /** SIGTERM and the exit code of the graceful shutdown. */
  stop(): Promise<number | null>;
}

export async function startServiceProcess(
  env: Record<string, string | undefined>,
  { timeoutMs = 60_000 }: { timeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const child = startCli(['serve'], { PORT: '0', LOG_LEVEL: 'warn', ...env });
  const exited = finished(child);
  let seen = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keyhaven serve did not start:\n${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening on (http:\/\/[^\s]+) /.exec(seen);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((result) => {
      clearTimeout(timer);
      reject(new Error(`keyhaven serve exited (${result.code ?? result.signal}):\n${seen}`));
    });
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
  });
  return {
    url,
    child,
    output: () => seen,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return (await exited).code;
    },
  };
}
