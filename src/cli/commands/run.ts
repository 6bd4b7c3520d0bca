import { writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { err, out } from '../shared.ts';

/** The long-running commands: the HTTP service and the provider simulator (loaded only when run). */
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

export function registerRunCommands(program: Command): void {
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
        const { createTestServiceAccount, simulatorEnvironment, simulatorKeys, startProviderSimulator } =
          await import('../../simulator/index.ts');
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
      const { startService } = await import('../../server/serve.ts');
      const service = await startService({ print: out, warn: err });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await service.close();
    });
}
