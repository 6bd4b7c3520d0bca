import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { CredentialSummary } from '../../vault/index.ts';
import {
  EXIT_FAILED,
  ExitCode,
  err,
  out,
  providerArgument,
  shortDate,
  table,
  usageError,
  userIdArgument,
  withKeyhaven,
} from '../shared.ts';

/** `keyhaven credentials list|test|delete`: one user's stored provider credentials, never the secrets. */
export function registerCredentialCommands(program: Command): void {
  const credentials = program
    .command('credentials')
    .description("a user's provider credentials: list, test, delete (secrets are never shown)");

  credentials
    .command('list')
    .description("every provider with the user's credential status, masked key and dates")
    .argument('<userId>', 'the user, as your application names them', userIdArgument)
    .option('--json', 'print JSON (one summary per provider, connected or not)')
    .action((userId: string, options: { json?: boolean }) =>
      withKeyhaven(async ({ vault }) => {
        const summaries = await vault.list({ userId });
        if (options.json) {
          out(JSON.stringify(summaries, null, 2));
          return;
        }
        const connected = summaries.filter((summary) => summary.connected);
        out(
          table(
            ['PROVIDER', 'STATUS', 'KEY', 'VERSION', 'UPDATED', 'VALIDATED', 'LAST USED'],
            summaries.map(row),
          ).join('\n'),
        );
        out('');
        out(`${connected.length} of ${summaries.length} providers connected for ${userId}`);
      }),
    );

  credentials
    .command('test')
    .description("check the user's stored credential with the provider now; exits 1 when it is not valid")
    .argument('<userId>', 'the user', userIdArgument)
    .argument('<provider>', 'provider id, e.g. openai', providerArgument)
    .action((userId: string, provider: string) =>
      withKeyhaven(async ({ vault }) => {
        const { result } = await vault.test({ userId, provider, actor: 'cli' });
        switch (result.status) {
          case 'valid':
            out(`${provider} credential of ${userId} is valid`);
            return;
          case 'invalid':
            err(`${provider} credential of ${userId} is invalid: ${result.reason}`);
            err(`Ask the user for a new key; the credential is now marked invalid.`);
            break;
          case 'unreachable':
            err(
              `${provider} could not be reached${result.reason ? ` (${result.reason})` : ''}; the credential was not checked, try again later`,
            );
            break;
          case 'rate_limited':
            err(
              `${provider} rate-limited the check${result.retryAfterMs === undefined ? '' : `; retry in ${Math.ceil(result.retryAfterMs / 1000)} s`}`,
            );
            break;
        }
        throw new ExitCode(EXIT_FAILED);
      }),
    );

  credentials
    .command('delete')
    .description("delete every version of the user's credential for a provider (asks first)")
    .argument('<userId>', 'the user', userIdArgument)
    .argument('<provider>', 'provider id, e.g. openai', providerArgument)
    .option('-y, --yes', 'do not ask for confirmation (required when not run from a terminal)')
    .action((userId: string, provider: string, options: { yes?: boolean }) => {
      if (!options.yes && (!process.stdin.isTTY || !process.stderr.isTTY)) {
        usageError('not deleting without confirmation: this is not a terminal, so pass --yes');
      }
      return withKeyhaven(async ({ vault }) => {
        const summary = await vault.get({ userId, provider });
        if (!summary.connected) {
          err(`keyhaven: no ${provider} credential is stored for ${userId}; nothing to delete`);
          throw new ExitCode(EXIT_FAILED);
        }
        if (!options.yes) {
          const confirmed = await confirm(
            `Delete ${userId}'s ${provider} credential (${summary.maskedKey ?? 'key'}, all versions)? This cannot be undone. [y/N] `,
          );
          if (!confirmed) {
            err('Nothing deleted.');
            throw new ExitCode(EXIT_FAILED);
          }
        }
        await vault.remove({ userId, provider, actor: 'cli' });
        out(`Deleted ${userId}'s ${provider} credential`);
      });
    });
}

function row(summary: CredentialSummary): string[] {
  if (!summary.connected) return [summary.provider, 'not connected', '-', '-', '-', '-', '-'];
  const status =
    summary.status === 'invalid' && summary.statusReason
      ? `invalid (${summary.statusReason.slice(0, 60)})`
      : (summary.status ?? '-');
  return [
    summary.provider,
    status,
    summary.maskedKey ?? '-',
    summary.version === null ? '-' : `v${summary.version}`,
    shortDate(summary.updatedAt),
    shortDate(summary.lastValidatedAt),
    shortDate(summary.lastUsedAt),
  ];
}

async function confirm(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}
