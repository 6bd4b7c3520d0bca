import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { copyKey, type DataKey, type DekCache, KeyVersionTooOldError, type Kms } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import type { Tables } from '../store/index.ts';

/**
 * Per-user data keys: created on a user's first store (exactly once, however many requests race to do
 * it), kept only wrapped by the KMS, unwrapped on demand through a small cache.
 */
export const INITIAL_DEK_VERSION = 1;

export interface DataKeysOptions {
  db: Kysely<Tables>;
  kms: Kms;
  tenant: string;
  cache: DekCache;
  clock: () => Date;
}

/**
 * A data key wrapped with a master key below the minimum decryption version could never be opened
 * again: an instance still configured with a retired active key must stop rather than write such keys.
 */
export async function refuseRetiredActiveKey(kms: Kms, minimum: number): Promise<void> {
  const active = kms.activeVersion();
  if (active < minimum) {
    throw new KeyhavenError(
      'invalid_config',
      `the active master key v${active} is older than the minimum decryption version v${minimum}; configure a newer master key`,
    );
  }
}

export function createDataKeys({ db, kms, tenant, cache, clock }: DataKeysOptions) {
  async function minDecryptVersion(): Promise<number> {
    const row = await db
      .selectFrom('keyring_state')
      .select('min_decrypt_version')
      .where('id', '=', 1)
      .executeTakeFirst();
    return row?.min_decrypt_version ?? 1;
  }

  async function unwrap(
    userId: string,
    version: number,
    kekVersion: number,
    wrapped: Buffer,
  ): Promise<Buffer> {
    if (kekVersion < (await minDecryptVersion())) throw new KeyVersionTooOldError();
    return kms.unwrap({ kekVersion, wrapped }, { tenant, userId, dekVersion: version });
  }

  /**
   * A copy of a user's data key that the caller owns and zeroes, or undefined when the user has none
   * (never stored, or shredded). A copy, because the cache zeroes its own buffer on eviction, which
   * another operation can cause while the caller is still between awaits.
   */
  async function get(userId: string, version: number): Promise<Buffer | undefined> {
    const cached = cache.get(userId, version);
    if (cached) return copyKey(cached);
    const row = await db
      .selectFrom('data_keys')
      .select(['kek_version', 'wrapped_key'])
      .where('user_id', '=', userId)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) return undefined;
    const key = await unwrap(userId, version, row.kek_version, row.wrapped_key);
    cache.set(userId, version, copyKey(key));
    return key;
  }

  /** The key new data of a user is encrypted with, created on first use. The caller zeroes it. */
  async function forEncryption(userId: string): Promise<DataKey> {
    const existing = await get(userId, INITIAL_DEK_VERSION);
    if (existing) return { version: INITIAL_DEK_VERSION, key: existing };
    await refuseRetiredActiveKey(kms, await minDecryptVersion());
    const fresh = randomBytes(32);
    try {
      const { kekVersion, wrapped } = await kms.wrap(fresh, {
        tenant,
        userId,
        dekVersion: INITIAL_DEK_VERSION,
      });
      // Concurrent first uses all try to insert; the primary key lets exactly one win and the rest
      // read the winner's key below.
      await db
        .insertInto('data_keys')
        .values({
          user_id: userId,
          version: INITIAL_DEK_VERSION,
          kek_version: kekVersion,
          wrapped_key: wrapped,
          updated_at: clock(),
        })
        .onConflict((conflict) => conflict.columns(['user_id', 'version']).doNothing())
        .execute();
    } finally {
      fresh.fill(0);
    }
    const key = await get(userId, INITIAL_DEK_VERSION);
    if (!key) throw new Error('data key vanished after creation');
    return { version: INITIAL_DEK_VERSION, key };
  }

  return { get, forEncryption, minDecryptVersion, forget: (userId: string) => cache.deleteUser(userId) };
}

export type DataKeys = ReturnType<typeof createDataKeys>;
