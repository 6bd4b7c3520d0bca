import { existsSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { KeyringConfigError } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import { registerCredentialCommands } from './commands/credentials.ts';
import { registerImportCommand } from './commands/import.ts';
import { registerInitCommand } from './commands/init.ts';
import { registerKeyCommands } from './commands/keys.ts';
import { registerRunCommands } from './commands/run.ts';
import { registerTokenCommands } from './commands/tokens.ts';
import { registerUsageCommand } from './commands/usage.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, ExitCode, err } from './shared.ts';

export { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './shared.ts';

/**
 * The `keyhaven` command. Exit codes: 0 success, 1 the operation ran and found a problem (a broken audit
 * chain, rows that could not be rewrapped or imported, an invalid credential), 2 bad usage or
 * configuration. Each group of commands lives in its own file under commands/.
 */
export function buildProgram(): Command {
  const program = new Command('keyhaven')
    .description('Keyhaven: a bring-your-own-key vault and gateway for AI providers')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: true })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Configuration comes from the environment, and from a .env file in the current directory for variables
the environment does not set (keyhaven init writes one): DATABASE_URL (PostgreSQL; absent = embedded
database in KEYHAVEN_DATA_DIR, default ./.keyhaven), KEYHAVEN_MASTER_KEYS (v1:<base64>,v2:<base64>) or
ENCRYPTION_KEY, KEYHAVEN_ADMIN_TOKEN, KEYHAVEN_<PROVIDER>_BASE_URL.

Exit codes: 0 done, 1 the command ran and found a problem (see its message), 2 bad usage or configuration.`,
  );

  registerInitCommand(program);
  registerRunCommands(program);
  registerKeyCommands(program);
  registerCredentialCommands(program);
  registerTokenCommands(program);
  registerImportCommand(program);
  registerUsageCommand(program);
  return program;
}

/** Reads ./.env like `node --env-file`: variables already set in the environment win. */
function loadDotEnv(): void {
  if (!existsSync('.env')) return;
  try {
    process.loadEnvFile('.env');
  } catch {
    throw new KeyhavenError('invalid_config', '.env in the current directory could not be read');
  }
}

/** `keyhaven credentials list alice | head`: the reader leaving early is not an error. */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT_OK);
    throw error;
  });
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  quietOnClosedPipe(process.stdout);
  const program = buildProgram();
  try {
    loadDotEnv();
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
    if (error instanceof KeyhavenError && error.code === 'unknown_provider') {
      const supported = error.details?.supported;
      err(
        `keyhaven: unknown provider${Array.isArray(supported) ? `; use one of ${supported.join(', ')}` : ''}`,
      );
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
