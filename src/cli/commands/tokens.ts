import { type Command, InvalidArgumentError } from 'commander';
import {
  createTokenService,
  USER_TOKEN_DEFAULT_TTL_SECONDS,
  USER_TOKEN_MAX_TTL_SECONDS,
  USER_TOKEN_MIN_TTL_SECONDS,
} from '../../server/auth.ts';
import { err, out, userIdArgument, withKeyhaven } from '../shared.ts';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** A token lifetime: whole seconds (3600) or a number with a unit (90s, 15m, 1h, 30d). */
export function parseTtl(value: string): number {
  const match = /^([1-9][0-9]{0,9})([smhd]?)$/.exec(value.trim());
  if (!match?.[1]) throw new InvalidArgumentError('must be seconds or a duration such as 15m, 1h or 30d');
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? 1);
  if (seconds < USER_TOKEN_MIN_TTL_SECONDS || seconds > USER_TOKEN_MAX_TTL_SECONDS) {
    throw new InvalidArgumentError(
      `must be between ${USER_TOKEN_MIN_TTL_SECONDS} seconds and ${USER_TOKEN_MAX_TTL_SECONDS / 86_400} days`,
    );
  }
  return seconds;
}

function tokenIdArgument(value: string): string {
  // A whole token is accepted too: only its id (before the dot) is used.
  const match = /^(khu_[0-9a-f]{24})(\.[A-Za-z0-9_-]+)?$/.exec(value.trim());
  if (!match?.[1]) throw new InvalidArgumentError('must be a token id such as khu_<24 hex digits>');
  return match[1];
}

function duration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** `keyhaven tokens create|revoke`: user tokens (khu_...) for the HTTP API and the web component. */
export function registerTokenCommands(program: Command): void {
  const tokens = program
    .command('tokens')
    .description("user tokens (khu_...): a user's bearer token for their own routes of the HTTP API");

  tokens
    .command('create')
    .description('mint a user token; it is printed once and stored only as a hash')
    .argument('<userId>', 'the user the token acts for', userIdArgument)
    .option(
      '--ttl <duration>',
      `lifetime: seconds, or 15m, 1h, 30d (${duration(USER_TOKEN_MIN_TTL_SECONDS)} to ${duration(USER_TOKEN_MAX_TTL_SECONDS)})`,
      parseTtl,
      USER_TOKEN_DEFAULT_TTL_SECONDS,
    )
    .option('--json', 'print JSON: id, token, userId, createdAt, expiresAt')
    .addHelpText(
      'after',
      `
Only the token goes to standard output (the rest to standard error), so a script can capture it:
  TOKEN=$(keyhaven tokens create alice --ttl 1h)`,
    )
    .action((userId: string, options: { ttl: number; json?: boolean }) =>
      withKeyhaven(async ({ database }) => {
        const minted = await createTokenService({ db: database.db }).mint({
          userId,
          ttlSeconds: options.ttl,
        });
        if (options.json) {
          out(
            JSON.stringify(
              {
                ...minted,
                createdAt: minted.createdAt.toISOString(),
                expiresAt: minted.expiresAt.toISOString(),
              },
              null,
              2,
            ),
          );
          return;
        }
        err(
          `Token ${minted.id} for ${userId}, valid for ${duration(options.ttl)} (until ${minted.expiresAt.toISOString()}).`,
        );
        err(`It is shown only now; revoke it with: keyhaven tokens revoke ${minted.id}`);
        out(minted.token);
      }),
    );

  tokens
    .command('revoke')
    .description('revoke a user token at once')
    .argument(
      '<tokenId>',
      'the token id, khu_<24 hex digits> (the part of the token before the dot)',
      tokenIdArgument,
    )
    .action((tokenId: string) =>
      withKeyhaven(async ({ database }) => {
        await createTokenService({ db: database.db }).revoke({ tokenId, principal: { kind: 'admin' } });
        out(`Revoked ${tokenId}`);
      }),
    );
}
