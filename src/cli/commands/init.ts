import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { generateMasterKey } from '../../crypto/index.ts';
import { out, usageError } from '../shared.ts';

/**
 * `keyhaven init`: a first `.env` with a fresh master key and admin token. It never overwrites a file:
 * replacing a master key would make every credential stored under the old one undecryptable.
 */
export function envFileContents({
  masterKey = generateMasterKey(),
  adminToken = `kha_${randomBytes(32).toString('base64url')}`,
  now = new Date(),
}: {
  masterKey?: string;
  adminToken?: string;
  now?: Date;
} = {}): string {
  return `# Keyhaven configuration, written by \`keyhaven init\` on ${now.toISOString()}.
# Keep this file secret and out of version control. Back up the master key somewhere safe as well:
# without it, no credential stored with it can ever be decrypted again.

# Master keys (32 bytes, base64), versioned. To rotate: append ,v2:<key> from
# \`keyhaven master-key generate --as v2\`, then run \`keyhaven rewrap\`.
KEYHAVEN_MASTER_KEYS=v1:${masterKey}

# Bearer token for the admin routes of the HTTP API (every route).
KEYHAVEN_ADMIN_TOKEN=${adminToken}

# PostgreSQL. Without it, Keyhaven keeps an embedded database in KEYHAVEN_DATA_DIR (default ./.keyhaven).
# DATABASE_URL=postgres://keyhaven:password@127.0.0.1:5432/keyhaven

# Redis, for rate limits shared by several instances (optional).
# REDIS_URL=redis://127.0.0.1:6379

# Port of \`keyhaven serve\` (default 8080); HOST=0.0.0.0 listens on every interface.
# PORT=8080
`;
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('write a .env with a new master key and admin token (never overwrites an existing file)')
    .option('--dir <path>', 'directory to write .env in (created when missing)', '.')
    .addHelpText(
      'after',
      `
The file is created with mode 0600 and holds KEYHAVEN_MASTER_KEYS and KEYHAVEN_ADMIN_TOKEN, plus
commented hints for DATABASE_URL, REDIS_URL and PORT. The keyhaven command reads .env from the
current directory (variables already set in the environment win). The secrets are not printed:
read them from the file when you need them.`,
    )
    .action((options: { dir: string }) => {
      const directory = resolve(options.dir);
      const path = join(directory, '.env');
      const shown = relative(process.cwd(), path) || path;
      try {
        mkdirSync(directory, { recursive: true, mode: 0o700 });
      } catch (error) {
        usageError(`cannot create ${directory}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      let descriptor: number;
      try {
        // 'wx': fails if the file exists, without a window between checking and creating.
        descriptor = openSync(path, 'wx', 0o600);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          usageError(
            `${shown} already exists and init never overwrites it (its master key may be protecting stored credentials). ` +
              'Edit it by hand, or run init with --dir <another directory>.',
          );
        }
        usageError(`cannot create ${shown}: ${code ?? 'error'}`);
      }
      try {
        // The umask may have narrowed the mode; make it exactly owner read/write.
        fchmodSync(descriptor, 0o600);
        writeSync(descriptor, envFileContents());
      } finally {
        closeSync(descriptor);
      }
      out(`Wrote ${shown} (mode 0600) with:`);
      out('  KEYHAVEN_MASTER_KEYS  a new master key, version v1');
      out('  KEYHAVEN_ADMIN_TOKEN  a new admin token for the HTTP API');
      out('  commented hints for DATABASE_URL, REDIS_URL and PORT');
      out('The values are not shown here; keep the file secret and back up the master key.');
      out('');
      out(
        directory === process.cwd()
          ? 'Next: run `keyhaven serve` in this directory (it reads .env), then open http://127.0.0.1:8080/docs'
          : `Next: cd ${relative(process.cwd(), directory) || directory} && keyhaven serve (it reads .env), then open http://127.0.0.1:8080/docs`,
      );
    });
}
