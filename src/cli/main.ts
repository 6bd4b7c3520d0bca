import { writeFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { generateMasterKey, KeyringConfigError } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import { createKeyhaven, type Keyhaven } from '../keyhaven.ts';
import { startService } from '../server/serve.ts';
import {
  createTestServiceAccount,
  simulatorEnvironment,
  simulatorKeys,
  startProviderSimulator,
} from '../simulator/index.ts';
import { createProgress } from './progress.ts';

/**
 * The `keyhaven` command. Exit codes: 0 success, 1 the operation ran and found a problem (a broken audit
 * chain, rows that could not be rewrapped), 2 bad usage or configuration.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

class ExitCode extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.exitCode = exitCode;
  }
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^[1-9][0-9]*$/.test(value.trim()) || !Number.isSafeInteger(parsed)) {
    throw new InvalidArgumentError('must be a positive whole number');
  }
  return parsed;
}

function portNumber(value: string): number {
  const parsed = Number(value);
  if (!/^[0-9]+$/.test(value.trim()) || parsed > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return parsed;
}

function collectKey(value: string, previous: Record<string, string[]>): Record<string, string[]> {
  const match = /^([a-z][a-z0-9-]*)=(.+)$/.exec(value);
  if (!match?.[1] || !match[2])
    throw new InvalidArgumentError('must be provider=key, e.g. openai=sk-test-mine');
  return { ...previous, [match[1]]: [...(previous[match[1]] ?? []), match[2]] };
}

function keyVersion(value: string): number {
  const match = /^v?([1-9][0-9]*)$/.exec(value.trim());
  if (!match?.[1]) throw new InvalidArgumentError('must be a key version such as v2');
  return Number(match[1]);
}

async function withKeyhaven<T>(run: (keyhaven: Keyhaven) => Promise<T>): Promise<T> {
  const keyhaven = await createKeyhaven();
  try {
    return await run(keyhaven);
  } finally {
    await keyhaven.close();
  }
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

export function buildProgram(): Command {
  const program = new Command('keyhaven')
    .description('Keyhaven: a bring-your-own-key vault and gateway for AI providers')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: true })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Configuration comes from the environment: DATABASE_URL (PostgreSQL; absent = embedded database in
KEYHAVEN_DATA_DIR, default ./.keyhaven), KEYHAVEN_MASTER_KEYS (v1:<base64>,v2:<base64>) or ENCRYPTION_KEY.`,
  );

  const masterKey = program
    .command('master-key')
    .description('master keys (KEKs): generate, inspect, retire');
  masterKey
    .command('generate')
    .description('print a new random 32-byte master key, base64-encoded')
    .option('--as <version>', 'print it as an entry for KEYHAVEN_MASTER_KEYS, e.g. --as v2', keyVersion)
    .action((options: { as?: number }) => {
      const key = generateMasterKey();
      out(options.as === undefined ? key : `v${options.as}:${key}`);
    });
  masterKey
    .command('status')
    .description('active and available key versions, minimum decryption version, data keys per version')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      withKeyhaven(async ({ vault }) => {
        const status = await vault.keyStatus();
        if (options.json) {
          out(JSON.stringify(status, null, 2));
          return;
        }
        out(`active master key:          v${status.activeVersion}`);
        out(`master keys in the keyring: ${status.versions.map((version) => `v${version}`).join(', ')}`);
        out(`minimum decryption version: v${status.minDecryptVersion}`);
        const counts = Object.entries(status.dataKeysByMasterKeyVersion);
        out(
          `data keys by master key:    ${counts.length === 0 ? 'none' : counts.map(([version, count]) => `v${version}: ${count}`).join(', ')}`,
        );
      }),
    );
  masterKey
    .command('set-min-version')
    .description(
      'refuse to unwrap with master keys older than <version> (refused while any data key uses one)',
    )
    .argument('<version>', 'key version, e.g. v2', keyVersion)
    .action((version: number) =>
      withKeyhaven(async ({ vault }) => {
        await vault.setMinDecryptVersion({ version, actor: 'cli' });
        out(`minimum decryption version is now v${version}`);
      }),
    );

  program
    .command('rewrap')
    .description(
      're-wrap every data key with the active master key (resumable: run it again after a failure)',
    )
    .option('--batch-size <n>', 'data keys per batch', positiveInteger, 500)
    .action((options: { batchSize: number }) =>
      withKeyhaven(async ({ vault }) => {
        const controller = new AbortController();
        const interrupt = () => controller.abort();
        process.once('SIGINT', interrupt);
        process.once('SIGTERM', interrupt);
        const progress = createProgress('rewrap');
        try {
          const result = await vault.rewrap({
            batchSize: options.batchSize,
            actor: 'cli',
            signal: controller.signal,
            onProgress: ({ done, total }) => progress.update(done, total),
          });
          progress.stop();
          out(
            `rewrapped ${result.rewrapped} of ${result.total} data keys to master key v${result.activeVersion}` +
              (result.skipped > 0 ? ` (${result.skipped} changed concurrently and skipped)` : ''),
          );
          if (result.failed.length > 0) {
            for (const failure of result.failed.slice(0, 20)) {
              err(
                `failed: user ${failure.userId} data key v${failure.version} (master key v${failure.kekVersion}): ${failure.reason}`,
              );
            }
            if (result.failed.length > 20) err(`... and ${result.failed.length - 20} more`);
            err(
              `${result.failed.length} data keys could not be rewrapped; fix the cause and run rewrap again`,
            );
            throw new ExitCode(EXIT_FAILED);
          }
        } catch (error) {
          progress.stop();
          if (controller.signal.aborted) {
            err('rewrap interrupted; nothing is lost, run it again to resume');
            throw new ExitCode(EXIT_FAILED);
          }
          throw error;
        } finally {
          process.off('SIGINT', interrupt);
          process.off('SIGTERM', interrupt);
        }
      }),
    );

  program
    .command('simulate')
    .description(
      'run the provider simulator: every provider at its real paths, offline, with fault injection',
    )
    .option('--port <n>', 'port to listen on', portNumber, 9100)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--key <provider=key>', 'also accept this key for a provider (repeatable)', collectKey, {})
    .option(
      '--service-account-out <file>',
      'write a throwaway Vertex service-account key file the simulator accepts',
    )
    .addHelpText(
      'after',
      `
Faults are set through its control API while it runs, for example:
  curl -X POST http://127.0.0.1:9100/__simulator/faults -d '{"provider":"openai","status":429,"retryAfterSeconds":2,"count":1}'
  curl -X DELETE http://127.0.0.1:9100/__simulator/faults
Fields: provider, key, latencyMs, status, retryAfterSeconds, quotaExhausted, midStreamErrorAfterChunks,
chunkDelayMs, stall, jobFailure, count. A video prompt containing "simulate:fail" fails.`,
    )
    .action(
      async (options: {
        port: number;
        host: string;
        key: Record<string, string[]>;
        serviceAccountOut?: string;
      }) => {
        const simulator = await startProviderSimulator({
          port: options.port,
          host: options.host,
          keys: options.key,
        });
        out(`Keyhaven provider simulator listening on ${simulator.url}`);
        out('Point Keyhaven at it with:');
        for (const [name, value] of Object.entries(simulatorEnvironment(simulator)))
          out(`  ${name}=${value}`);
        out('Accepted keys:');
        for (const [provider, keys] of Object.entries(simulatorKeys())) {
          out(`  ${provider}: ${[...keys, ...(options.key[provider] ?? [])].join(', ')}`);
        }
        if (options.serviceAccountOut) {
          const account = createTestServiceAccount(simulator);
          writeFileSync(options.serviceAccountOut, account.json, { mode: 0o600 });
          out(`Wrote a Vertex service account for ${account.clientEmail} to ${options.serviceAccountOut}`);
        }
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await simulator.close();
      },
    );

  program
    .command('serve')
    .description('run the HTTP API (what npm start runs)')
    .addHelpText(
      'after',
      `
Environment: PORT (default 8080), HOST (default 127.0.0.1; set HOST=0.0.0.0 to listen on every interface),
KEYHAVEN_ADMIN_TOKEN (absent: one is generated on first start, printed once and stored only as a hash),
LOG_LEVEL. Stops gracefully on SIGINT or SIGTERM.`,
    )
    .action(async () => {
      const service = await startService({ print: out, warn: err });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await service.close();
    });

  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description(
      'check the hash chain; exits 1 and names the first broken row when one was altered or removed',
    )
    .action(() =>
      withKeyhaven(async ({ vault }) => {
        const result = await vault.verifyAudit();
        if (result.ok) {
          out(
            `audit log intact: ${result.count} events${result.headSeq ? `, head ${result.headSeq} ${result.headHash}` : ''}`,
          );
          return;
        }
        err(
          `audit log broken at row ${result.brokenSeq}: ${result.reason} (${result.count} events verified before it)`,
        );
        throw new ExitCode(EXIT_FAILED);
      }),
    );
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof ExitCode) return error.exitCode;
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (
      error instanceof KeyringConfigError ||
      (error instanceof KeyhavenError && error.code === 'invalid_config')
    ) {
      err(`keyhaven: configuration error: ${error.message}`);
      return EXIT_USAGE;
    }
    if (error instanceof KeyhavenError) {
      err(`keyhaven: ${error.message}`);
      return error.code === 'invalid_request' ? EXIT_USAGE : EXIT_FAILED;
    }
    err(`keyhaven: ${error instanceof Error ? error.message : 'unexpected error'}`);
    return EXIT_FAILED;
  }
}

if (import.meta.main) {
  process.exitCode = await main();
}
