import { InvalidArgumentError } from 'commander';
import type { Keyhaven } from '../keyhaven.ts';
import { createCredentialCatalog } from '../providers/credentials.ts';

/**
 * What every command shares: exit codes, output, argument parsers and a Keyhaven opened for one
 * command and closed after it.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Thrown by a command to end with this exit code after it has printed why. */
export class ExitCode extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.exitCode = exitCode;
  }
}

/** Prints a message for bad usage or input and ends with exit code 2. */
export function usageError(message: string): never {
  err(`keyhaven: ${message}`);
  throw new ExitCode(EXIT_USAGE);
}

export const out = (line: string) => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`${line}\n`);

export async function withKeyhaven<T>(run: (keyhaven: Keyhaven) => Promise<T>): Promise<T> {
  // Loaded here, not at start-up, so --help and usage errors answer at once.
  const { createKeyhaven } = await import('../keyhaven.ts');
  const keyhaven = await createKeyhaven();
  try {
    return await run(keyhaven);
  } finally {
    await keyhaven.close();
  }
}

export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^[1-9][0-9]*$/.test(value.trim()) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError('must be a positive whole number');
  }
  return parsed;
}

const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/;

export function userIdArgument(value: string): string {
  if (!USER_ID.test(value)) {
    throw new InvalidArgumentError('must be 1-128 characters of letters, digits and . _ : @ + -');
  }
  return value;
}

/** One of the built-in providers (the CLI runs Keyhaven without plugins). */
export function providerArgument(value: string): string {
  const known = createCredentialCatalog().providers();
  if (!known.includes(value)) throw new InvalidArgumentError(`must be one of ${known.join(', ')}`);
  return value;
}

/** A date for tables: ISO 8601 to the minute, in UTC. */
export function shortDate(date: Date | null): string {
  return date === null ? '-' : `${date.toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

/**
 * Columns separated by two spaces, left-aligned unless `alignRight` says otherwise (numbers), plain
 * text (no colours, safe for pipes).
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  alignRight: readonly boolean[] = [],
): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        alignRight[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
