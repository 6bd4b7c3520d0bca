import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, vi } from 'vitest';
import { SecretValue } from '../../src/crypto/index.ts';
import type { Credentials } from '../../src/providers/spec.ts';
import { isUpstreamError, type UpstreamError } from '../../src/providers/upstream-error.ts';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/simulator/server.ts';

/**
 * Shared set-up of the provider adapter and conformance suites: one simulator per test file, the
 * credential of one key, a port nothing listens on, and what a secret-leak check scans.
 */

/**
 * Starts a simulator before the file's tests, resets it after each and closes it at the end. The
 * returned object stands for the running simulator (it is only started in beforeAll, so it can only
 * be used inside tests and hooks).
 */
export function useSimulator(options: SimulatorOptions): Simulator {
  let running: Simulator | undefined;
  beforeAll(async () => {
    running = await startSimulator(options);
  });
  afterEach(() => running?.reset());
  afterAll(async () => {
    await running?.close();
  });
  return new Proxy({} as Simulator, {
    get(_target, property) {
      if (!running) throw new Error('the simulator is only running inside tests and hooks');
      const value: unknown = Reflect.get(running, property);
      return typeof value === 'function' ? value.bind(running) : value;
    },
  });
}

/** A credential with only an apiKey, read when the adapter asks for it. */
export const keyOnly =
  (key: string): (() => Credentials) =>
  () => ({ apiKey: new SecretValue(key) });

/** A local port nothing listens on: a connection to it is refused at once. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

export async function closedPortURL(): Promise<string> {
  return `http://127.0.0.1:${await closedPort()}`;
}

/** The UpstreamError a promise rejects with; anything else fails the test. */
export async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isUpstreamError(error)) throw new Error(`expected an UpstreamError, got ${inspect(error)}`);
  return error;
}

export async function collect<T>(events: AsyncIterable<T>): Promise<T[]> {
  const collected: T[] = [];
  for await (const event of events) collected.push(event);
  return collected;
}

/**
 * Captures what anything prints to the console while `run` runs, silencing it: strings as they are,
 * anything else inspected deep enough to show nested secrets.
 */
export async function capturingConsole(run: () => Promise<void>): Promise<string[]> {
  const printed: string[] = [];
  const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...parts: unknown[]) => {
      printed.push(
        parts.map((part) => (typeof part === 'string' ? part : inspect(part, { depth: 8 }))).join(' '),
      );
    }),
  );
  try {
    await run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return printed;
}

/** Every way an error (or a returned value) can end up in a log, a response or a trace. */
export function errorViews(error: unknown): string[] {
  return [
    String(error),
    JSON.stringify(error) ?? '',
    inspect(error, { depth: 8 }),
    inspect(error, { depth: 8, showHidden: true }),
    error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : '',
    isUpstreamError(error) ? (error.body ?? '') : '',
  ];
}

/** What a promise rejects with, whatever it is; a call that succeeds fails the test. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
}
