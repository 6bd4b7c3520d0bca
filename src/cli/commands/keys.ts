import { type Command, InvalidArgumentError } from 'commander';
import { generateMasterKey } from '../../crypto/index.ts';
import { createProgress } from '../progress.ts';
import { EXIT_FAILED, ExitCode, err, out, positiveInteger, withKeyhaven } from '../shared.ts';

/** Master keys, rewrap and the audit log: the operator's key-management commands. */
function keyVersion(value: string): number {
  const match = /^v?([1-9][0-9]*)$/.exec(value.trim());
  if (!match?.[1]) throw new InvalidArgumentError('must be a key version such as v2');
  return Number(match[1]);
}

export function registerKeyCommands(program: Command): void {
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
}
