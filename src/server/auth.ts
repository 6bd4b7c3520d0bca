import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Kysely } from 'kysely';
import { createBoundedCache } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import type { TokenLocation } from '../gateway/index.ts';
import { newId } from '../ids.ts';
import type { Tables } from '../store/index.ts';
import { userIdSchema } from '../vault/input.ts';

/**
 * Bearer tokens. The admin token opens every route; a user token (`khu_<24 hex>.<secret>`) opens only its
 * own user's routes. Both are 32 random bytes, so a plain SHA-256 is enough to store them; the id in
 * front of a user token finds its row, and the hashes are compared in constant time.
 */
export type Principal = { kind: 'admin' } | { kind: 'user'; userId: string; tokenId: string };

export const USER_TOKEN_DEFAULT_TTL_SECONDS = 3_600;
export const USER_TOKEN_MIN_TTL_SECONDS = 60;
export const USER_TOKEN_MAX_TTL_SECONDS = 30 * 24 * 3_600;

const ADMIN_TOKEN_ROW_ID = 'admin';
const USER_TOKEN = /^(khu_[0-9a-f]{24})\.[A-Za-z0-9_-]{43}$/;

/**
 * How long a user token's row, once read, is reused without asking the database again. The token's hash
 * is still compared (in constant time) and its expiry checked on every request; revoking or shredding on
 * this instance drops the row at once, so only a revocation made elsewhere (another instance, the CLI)
 * can take up to this long to be seen.
 */
export const TOKEN_CACHE_TTL_MS = 1_000;

type TokenRow = { userId: string | null; tokenHash: Buffer; revokedAt: Date | null; expiresAt: Date | null };

export function hashToken(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

function sameHash(expected: Buffer, token: string): boolean {
  const actual = hashToken(token);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function actorOf(principal: Principal): string {
  return principal.kind === 'admin' ? 'admin' : `user:${principal.userId}`;
}

function unauthorized(): KeyhavenError {
  return new KeyhavenError('unauthorized', 'a valid bearer token is required');
}

export function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * The token of a passthrough call, read where the client's SDK puts its API key (`Authorization: Bearer`,
 * `x-api-key`, `x-goog-api-key`): a token anywhere else is not looked at.
 */
export function gatewayToken(
  headers: IncomingHttpHeaders,
  locations: readonly TokenLocation[],
): string | undefined {
  for (const location of locations) {
    const value = headers[location];
    if (typeof value !== 'string') continue;
    const token = location === 'authorization' ? bearerToken(value) : value.trim();
    if (token) return token;
  }
  return undefined;
}

/**
 * The user a passthrough call acts for: a user token's own user, or, with the admin token, the user named
 * by `x-keyhaven-user`. A user token naming someone else finds nothing, like any other user's resource.
 */
export function gatewayUser(principal: Principal, header: string | string[] | undefined): string {
  if (principal.kind === 'user') {
    if (header !== undefined && header !== principal.userId)
      throw new KeyhavenError('not_found', 'not found');
    return principal.userId;
  }
  if (typeof header !== 'string' || header === '') {
    throw new KeyhavenError(
      'invalid_request',
      'the admin token on a passthrough route must name the user with the x-keyhaven-user header',
    );
  }
  if (!userIdSchema.safeParse(header).success) {
    throw new KeyhavenError(
      'invalid_request',
      'x-keyhaven-user must be 1-128 characters of letters, digits and . _ : @ + -',
    );
  }
  return header;
}

export interface AdminToken {
  hash: Buffer;
  /** Set only when the token was generated now: the one moment it can be shown. */
  generated?: string;
}

/**
 * The admin token: KEYHAVEN_ADMIN_TOKEN when set (only its hash is kept), otherwise the hash stored by
 * an earlier start, otherwise a new token whose hash is stored and whose text is returned once.
 */
export async function ensureAdminToken(
  db: Kysely<Tables>,
  configured: string | undefined,
): Promise<AdminToken> {
  if (configured !== undefined) return { hash: hashToken(configured) };
  const stored = await db
    .selectFrom('tokens')
    .select('token_hash')
    .where('id', '=', ADMIN_TOKEN_ROW_ID)
    .executeTakeFirst();
  if (stored) return { hash: stored.token_hash };
  const token = `kha_${randomSecret()}`;
  const inserted = await db
    .insertInto('tokens')
    .values({ id: ADMIN_TOKEN_ROW_ID, kind: 'admin', user_id: null, token_hash: hashToken(token) })
    .onConflict((conflict) => conflict.column('id').doNothing())
    .returning('token_hash')
    .executeTakeFirst();
  if (inserted) return { hash: inserted.token_hash, generated: token };
  // Another process starting at the same time stored its token first: use that one.
  const winner = await db
    .selectFrom('tokens')
    .select('token_hash')
    .where('id', '=', ADMIN_TOKEN_ROW_ID)
    .executeTakeFirstOrThrow();
  return { hash: winner.token_hash };
}

export function createTokenService({
  db,
  adminTokenHash,
  clock = () => new Date(),
  cacheTtlMs = TOKEN_CACHE_TTL_MS,
}: {
  db: Kysely<Tables>;
  adminTokenHash?: Buffer | undefined;
  clock?: () => Date;
  /** 0 reads the database on every request. */
  cacheTtlMs?: number;
}) {
  // Token id -> its row as read. Unknown ids are never kept: a guessed id always reaches the database.
  const rows = createBoundedCache<string, TokenRow>({
    maxEntries: 10_000,
    ttlMs: cacheTtlMs,
    onEvict: () => {},
  });

  async function readTokenRow(id: string): Promise<TokenRow | undefined> {
    const row = await db
      .selectFrom('tokens')
      .select(['user_id', 'token_hash', 'revoked_at', 'expires_at'])
      .where('id', '=', id)
      .where('kind', '=', 'user')
      .executeTakeFirst();
    if (!row) return undefined;
    const read: TokenRow = {
      userId: row.user_id,
      tokenHash: row.token_hash,
      revokedAt: row.revoked_at,
      expiresAt: row.expires_at,
    };
    rows.set(id, read);
    return read;
  }

  async function authenticate(authorization: string | undefined): Promise<Principal> {
    return authenticateToken(bearerToken(authorization));
  }

  async function authenticateToken(token: string | undefined): Promise<Principal> {
    if (token === undefined) throw unauthorized();
    const userToken = USER_TOKEN.exec(token);
    if (!userToken?.[1]) {
      if (adminTokenHash && sameHash(adminTokenHash, token)) return { kind: 'admin' };
      throw unauthorized();
    }
    const tokenId = userToken[1];
    // A cached row is used as it is, without a promise in between (this runs on every gateway call).
    const row = rows.get(tokenId) ?? (await readTokenRow(tokenId));
    if (!row || row.userId === null || !sameHash(row.tokenHash, token)) throw unauthorized();
    if (row.revokedAt !== null || (row.expiresAt !== null && row.expiresAt <= clock())) throw unauthorized();
    return { kind: 'user', userId: row.userId, tokenId };
  }

  async function mint(input: { userId: string; ttlSeconds: number }) {
    const id = newId('khu');
    const token = `${id}.${randomSecret()}`;
    const createdAt = clock();
    const expiresAt = new Date(createdAt.getTime() + input.ttlSeconds * 1000);
    await db
      .insertInto('tokens')
      .values({
        id,
        kind: 'user',
        user_id: input.userId,
        token_hash: hashToken(token),
        created_at: createdAt,
        expires_at: expiresAt,
      })
      .execute();
    return { id, token, userId: input.userId, createdAt, expiresAt };
  }

  /** Revokes a user token. Someone else's token is reported as missing, like any other user's resource. */
  async function revoke(input: { tokenId: string; principal: Principal }): Promise<void> {
    let query = db
      .updateTable('tokens')
      .set({ revoked_at: clock() })
      .where('id', '=', input.tokenId)
      .where('kind', '=', 'user');
    if (input.principal.kind === 'user') query = query.where('user_id', '=', input.principal.userId);
    const result = await query.executeTakeFirst();
    rows.delete(input.tokenId);
    if (result.numUpdatedRows === 0n) throw new KeyhavenError('not_found', 'no such token');
  }

  /** A shredded user keeps no way in. */
  async function removeUser(userId: string): Promise<void> {
    await db.deleteFrom('tokens').where('kind', '=', 'user').where('user_id', '=', userId).execute();
    rows.deleteWhere((_id, row) => row.userId === userId);
  }

  return { authenticate, authenticateToken, mint, revoke, removeUser };
}

export type TokenService = ReturnType<typeof createTokenService>;

/** A user token is good only for its own user; any other user's resource does not exist for it. */
export function requireUser(principal: Principal, userId: string): void {
  if (principal.kind === 'user' && principal.userId !== userId) {
    throw new KeyhavenError('not_found', 'not found');
  }
}

export function requireAdmin(principal: Principal): void {
  // A user token on an admin route: the route does not exist for it.
  if (principal.kind !== 'admin') throw new KeyhavenError('not_found', 'not found');
}
