import { type Kysely, sql } from 'kysely';
import { KeyVersionMissingError, type Kms } from '../crypto/index.ts';
import type { Tables } from '../store/index.ts';
import { type AuditKeySource, appendAuditEvents } from './audit.ts';
import { refuseRetiredActiveKey } from './data-keys.ts';

/**
 * Master-key rotation: re-wraps every data key that is not on the KMS's active version. Resumable and
 * idempotent by construction: it only ever selects rows still on an old version, and each row is
 * updated with a compare-and-set on its previous wrapped bytes, so a killed run loses nothing and a
 * rerun (or a concurrent one) never double-wraps. Credential blobs are untouched.
 */
export interface RewrapOptions {
  db: Kysely<Tables>;
  kms: Kms;
  tenant: string;
  auditKey: AuditKeySource;
  batchSize?: number;
  actor?: string;
  clock?: () => Date;
  onProgress?: (progress: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface RewrapFailure {
  userId: string;
  version: number;
  kekVersion: number;
  reason: string;
}

export interface RewrapResult {
  activeVersion: number;
  total: number;
  rewrapped: number;
  /** Rows another writer changed first (a concurrent rewrap, a shred). */
  skipped: number;
  failed: RewrapFailure[];
}

export async function countDataKeysByKekVersion(db: Kysely<Tables>): Promise<Map<number, number>> {
  const rows = await db
    .selectFrom('data_keys')
    .select(['kek_version', (eb) => eb.fn.countAll<string>().as('count')])
    .groupBy('kek_version')
    .execute();
  return new Map(rows.map((row) => [row.kek_version, Number(row.count)]));
}

export async function rewrapDataKeys({
  db,
  kms,
  tenant,
  auditKey,
  batchSize = 500,
  actor = 'system',
  clock = () => new Date(),
  onProgress,
  signal,
}: RewrapOptions): Promise<RewrapResult> {
  const activeVersion = kms.activeVersion();
  const state = await db
    .selectFrom('keyring_state')
    .select('min_decrypt_version')
    .where('id', '=', 1)
    .executeTakeFirst();
  await refuseRetiredActiveKey(kms, state?.min_decrypt_version ?? 1);
  const counts = await countDataKeysByKekVersion(db);
  const total = [...counts].reduce(
    (sum, [version, count]) => (version === activeVersion ? sum : sum + count),
    0,
  );
  const result: RewrapResult = { activeVersion, total, rewrapped: 0, skipped: 0, failed: [] };
  onProgress?.({ done: 0, total });

  let after: { userId: string; version: number } | undefined;
  for (;;) {
    signal?.throwIfAborted();
    let query = db
      .selectFrom('data_keys')
      .select(['user_id', 'version', 'kek_version', 'wrapped_key'])
      .where('kek_version', '<>', activeVersion)
      .orderBy('user_id')
      .orderBy('version')
      .limit(batchSize);
    if (after) {
      const { userId, version } = after;
      query = query.where((eb) =>
        eb.or([
          eb('user_id', '>', userId),
          eb.and([eb('user_id', '=', userId), eb('version', '>', version)]),
        ]),
      );
    }
    const rows = await query.execute();
    if (rows.length === 0) break;
    const last = rows.at(-1);
    if (last) after = { userId: last.user_id, version: last.version };

    const updates: {
      userId: string;
      version: number;
      oldKek: number;
      oldWrapped: Buffer;
      wrapped: Buffer;
    }[] = [];
    for (const row of rows) {
      const context = { tenant, userId: row.user_id, dekVersion: row.version };
      let key: Buffer | undefined;
      try {
        key = await kms.unwrap({ kekVersion: row.kek_version, wrapped: row.wrapped_key }, context);
        const { kekVersion, wrapped } = await kms.wrap(key, context);
        if (kekVersion !== activeVersion) throw new Error('active master key changed during rewrap');
        updates.push({
          userId: row.user_id,
          version: row.version,
          oldKek: row.kek_version,
          oldWrapped: row.wrapped_key,
          wrapped,
        });
      } catch (error) {
        result.failed.push({
          userId: row.user_id,
          version: row.version,
          kekVersion: row.kek_version,
          reason:
            error instanceof KeyVersionMissingError
              ? `master key v${row.kek_version} is not in the keyring`
              : error instanceof Error
                ? error.message
                : 'unknown error',
        });
      } finally {
        key?.fill(0);
      }
    }
    if (updates.length > 0) {
      const values = sql.join(
        updates.map(
          (update) =>
            sql`(${update.userId}::text, ${update.version}::integer, ${update.oldKek}::integer, ${update.oldWrapped}::bytea, ${update.wrapped}::bytea)`,
        ),
      );
      const changed = await sql<{ user_id: string }>`
        update data_keys as d
        set kek_version = ${activeVersion}, wrapped_key = v.wrapped, updated_at = ${clock()}
        from (values ${values}) as v(user_id, version, old_kek, old_wrapped, wrapped)
        where d.user_id = v.user_id and d.version = v.version
          and d.kek_version = v.old_kek and d.wrapped_key = v.old_wrapped
        returning d.user_id`.execute(db);
      result.rewrapped += changed.rows.length;
      result.skipped += updates.length - changed.rows.length;
    }
    onProgress?.({ done: result.rewrapped + result.skipped + result.failed.length, total });
  }

  const chainKey = await auditKey();
  await db.transaction().execute((trx) =>
    appendAuditEvents(trx, chainKey, [
      {
        action: 'keyring.rewrap',
        actor,
        occurredAt: clock(),
        detail: {
          activeVersion,
          total,
          rewrapped: result.rewrapped,
          skipped: result.skipped,
          failed: result.failed.length,
        },
      },
    ]),
  );
  return result;
}
