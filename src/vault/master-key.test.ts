import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import {
  countingKms,
  errorText,
  expectKeyhavenError,
  failingQueries,
  failure,
  fakeApiKey,
  kmsFor,
  masterKeySet,
  randomUserId,
} from '../../test/support/vault.ts';
import type { Kms } from '../crypto/index.ts';
import { createVault, type Vault, type VaultDependencies } from './index.ts';

/**
 * Security tests 11, 12, 15 and 16: master-key rotation, resumable rewrap and the minimum decryption
 * version. The tests build on each other (one database, keys v1 -> v2 -> v3 -> v4) and run in order.
 */
describe.each(databaseTargets)('master-key rotation on $name', (target) => {
  const keys = masterKeySet(1, 2, 3, 4);
  let database: TestDatabase;
  const opened: Vault[] = [];
  const stored: { userId: string; provider: string; apiKey: string }[] = [];
  let savedV1DataKey: { userId: string; wrapped: Buffer } | undefined;

  beforeAll(async () => {
    database = await target.open();
  });

  afterAll(async () => {
    for (const vault of opened) await vault.close();
    await database?.close();
  });

  function open(kms: Kms, dependencies: Partial<VaultDependencies> = {}): Vault {
    const vault = createVault({ db: database.db, kms, ...dependencies });
    opened.push(vault);
    return vault;
  }

  /** Every credential stored so far, read by a vault with cold caches on the given keyring. */
  async function expectAllReadable(kms: Kms) {
    const vault = open(kms);
    for (const { userId, provider, apiKey } of stored) {
      const revealed = await vault.reveal({ userId, provider, purpose: 'proxy' });
      expect(revealed.credentials.apiKey?.reveal(), `${userId} ${provider}`).toBe(apiKey);
    }
    // Write the batched reveal events while this keyring can still open the audit chain's key: later
    // tests rotate it away, as a deployment retires a master key only after every instance moved on.
    await vault.flush();
  }

  async function storeWith(vault: Vault, userId: string, provider: string) {
    const apiKey = fakeApiKey();
    await vault.store({ userId, provider, credentials: { apiKey }, validate: false });
    stored.push({ userId, provider, apiKey });
  }

  async function dataKeyVersions() {
    return (await open(kmsFor(keys, [1])).keyStatus()).dataKeysByMasterKeyVersion;
  }

  async function secrets() {
    const rows = await database.db.selectFrom('credentials').select(['id', 'secret']).orderBy('id').execute();
    return rows.map((row) => [row.id, Buffer.from(row.secret).toString('hex')]);
  }

  it('security 11: after activating v2, new data keys wrap with v2 and old credentials still decrypt', async () => {
    const v1 = open(kmsFor(keys, [1]));
    for (let index = 0; index < 6; index += 1) {
      const userId = randomUserId(`rotation-${index}`);
      await storeWith(v1, userId, 'openai');
      if (index % 2 === 0) await storeWith(v1, userId, 'anthropic');
    }
    expect(await v1.keyStatus()).toEqual({
      activeVersion: 1,
      versions: [1],
      minDecryptVersion: 1,
      // Six users' data keys and the audit chain's.
      dataKeysByMasterKeyVersion: { 1: 7 },
    });
    const first = stored[0];
    if (!first) throw new Error('nothing stored');
    const row = await database.db
      .selectFrom('data_keys')
      .select('wrapped_key')
      .where('user_id', '=', first.userId)
      .executeTakeFirstOrThrow();
    savedV1DataKey = { userId: first.userId, wrapped: Buffer.from(row.wrapped_key) };

    const rotated = open(kmsFor(keys, [1, 2]));
    const newcomer = randomUserId('newcomer');
    await storeWith(rotated, newcomer, 'mistral');
    const newcomerKey = await database.db
      .selectFrom('data_keys')
      .select('kek_version')
      .where('user_id', '=', newcomer)
      .executeTakeFirstOrThrow();
    expect(newcomerKey.kek_version).toBe(2);
    // An existing user storing again keeps their data key (and its wrapping) until a rewrap.
    await storeWith(rotated, first.userId, 'openai');
    expect(await rotated.keyStatus()).toMatchObject({
      activeVersion: 2,
      versions: [1, 2],
      dataKeysByMasterKeyVersion: { 1: 7, 2: 1 },
    });
    stored.splice(0, 1);
    await expectAllReadable(kmsFor(keys, [1, 2]));
    // Without v1 the old credentials are out of reach, as they should be before a rewrap.
    const withoutV1 = open(kmsFor(keys, [2]));
    await expectKeyhavenError(
      () => withoutV1.reveal({ userId: first.userId, provider: 'openai', purpose: 'proxy' }),
      'decryption_failed',
    );
  });

  it('refuses invalid minimum decryption versions, and raising it while a data key is on v1', async () => {
    const rotated = open(kmsFor(keys, [1, 2]));
    for (const version of [0, -1, 1.5, Number.NaN, 3]) {
      await expectKeyhavenError(() => rotated.setMinDecryptVersion({ version }), 'invalid_request');
    }
    const error = await expectKeyhavenError(
      () => rotated.setMinDecryptVersion({ version: 2 }),
      'key_version_in_use',
    );
    expect(error.details).toEqual({ remaining: 7 });
    expect(error.message).toContain('rewrap');
    // A vault whose active key is v1 cannot raise it to v2 at all.
    await expectKeyhavenError(
      () => open(kmsFor(keys, [1])).setMinDecryptVersion({ version: 2 }),
      'invalid_request',
    );
    expect((await rotated.keyStatus()).minDecryptVersion).toBe(1);
  });

  it('rewrap moves every data key to v2, leaves blobs and plaintexts unchanged; a second run is a no-op', async () => {
    const rotated = open(kmsFor(keys, [1, 2]));
    const blobsBefore = await secrets();
    const wrappedBefore = await database.db.selectFrom('data_keys').selectAll().orderBy('user_id').execute();
    const progress: { done: number; total: number }[] = [];
    const result = await rotated.rewrap({ batchSize: 4, onProgress: (entry) => progress.push(entry) });
    // The audit chain's data key is rewrapped like any user's.
    expect(result).toEqual({ activeVersion: 2, total: 7, rewrapped: 7, skipped: 0, failed: [] });
    expect(progress.at(0)).toEqual({ done: 0, total: 7 });
    expect(progress.at(-1)).toEqual({ done: 7, total: 7 });
    expect(await dataKeyVersions()).toEqual({ 2: 8 });

    const wrappedAfter = await database.db.selectFrom('data_keys').selectAll().orderBy('user_id').execute();
    expect(wrappedAfter.map((row) => row.user_id)).toEqual(wrappedBefore.map((row) => row.user_id));
    for (const [index, before] of wrappedBefore.entries()) {
      const after = wrappedAfter[index];
      const changed = !Buffer.from(after?.wrapped_key ?? []).equals(Buffer.from(before.wrapped_key));
      expect(changed, `${before.user_id}'s wrapped key`).toBe(before.kek_version === 1);
    }
    expect(await secrets()).toEqual(blobsBefore);
    await expectAllReadable(kmsFor(keys, [1, 2]));

    const again = await rotated.rewrap();
    expect(again).toEqual({ activeVersion: 2, total: 0, rewrapped: 0, skipped: 0, failed: [] });
    const events = (await rotated.listAudit({ limit: 1000 })).filter(
      (event) => event.action === 'keyring.rewrap',
    );
    expect(events.map((event) => event.detail)).toEqual([
      { activeVersion: 2, total: 7, rewrapped: 7, skipped: 0, failed: 0 },
      { activeVersion: 2, total: 0, rewrapped: 0, skipped: 0, failed: 0 },
    ]);
  });

  it('security 16: a keyring that holds only v2 reads every credential once the rewrap is done', async () => {
    await expectAllReadable(kmsFor(keys, [2]));
    const onlyV2 = open(kmsFor(keys, [2]));
    await storeWith(onlyV2, randomUserId('only-v2'), 'luma');
    await expectAllReadable(kmsFor(keys, [2]));
  });

  it('security 15: with the minimum at v2 a data key still on v1 is refused; lowering it restores access', async () => {
    const rotated = open(kmsFor(keys, [1, 2]));
    await rotated.setMinDecryptVersion({ version: 2 });
    expect(await rotated.keyStatus()).toMatchObject({
      minDecryptVersion: 2,
      dataKeysByMasterKeyVersion: { 2: 9 },
    });
    if (!savedV1DataKey) throw new Error('no saved data key');
    const { userId, wrapped } = savedV1DataKey;
    const victim = stored.find((entry) => entry.userId === userId);
    if (!victim) throw new Error('no credential for the saved data key');
    // Put the user's old v1-wrapped data key back, as a restore from an old backup would.
    await database.db
      .updateTable('data_keys')
      .set({ kek_version: 1, wrapped_key: wrapped })
      .where('user_id', '=', userId)
      .execute();

    const cold = open(kmsFor(keys, [1, 2]));
    const error = await expectKeyhavenError(
      () => cold.reveal({ userId, provider: victim.provider, purpose: 'proxy' }),
      'decryption_failed',
    );
    expect(errorText(error)).not.toContain(victim.apiKey);
    await expectKeyhavenError(() => rotated.setMinDecryptVersion({ version: 2 }), 'key_version_in_use');

    await rotated.setMinDecryptVersion({ version: 1 });
    const revealed = await cold.reveal({ userId, provider: victim.provider, purpose: 'proxy' });
    expect(revealed.credentials.apiKey?.reveal()).toBe(victim.apiKey);
    await cold.flush();

    expect((await rotated.rewrap()).rewrapped).toBe(1);
    await rotated.setMinDecryptVersion({ version: 2 });
    await expectAllReadable(kmsFor(keys, [1, 2]));
    const changes = (await rotated.listAudit({ limit: 1000 })).filter(
      (event) => event.action === 'keyring.min_decrypt_version',
    );
    expect(changes.map((event) => event.detail.version)).toEqual([2, 1, 2]);
  });

  it('security 12: a rewrap whose KMS fails part-way reports the failures, and a rerun completes', async () => {
    const total = Object.values(await dataKeyVersions()).reduce((sum, count) => sum + count, 0);
    const before = await database.db
      .selectFrom('data_keys')
      .select(['user_id', 'version'])
      .orderBy('user_id')
      .execute();
    const flaky = countingKms(kmsFor(keys, [2, 3]), { failWrapsAfter: 3 });
    const result = await open(flaky).rewrap({ batchSize: 2 });
    expect(result).toMatchObject({ activeVersion: 3, total, rewrapped: 3, skipped: 0 });
    expect(result.failed).toHaveLength(total - 3);
    for (const entry of result.failed) {
      expect(entry).toMatchObject({
        version: 1,
        kekVersion: 2,
        reason: 'the key management service is unavailable',
      });
      expect(before.map((row) => row.user_id)).toContain(entry.userId);
    }
    expect(await dataKeyVersions()).toEqual({ 2: total - 3, 3: 3 });
    // Half-way, everything still reads.
    await expectAllReadable(kmsFor(keys, [2, 3]));

    const rerun = await open(kmsFor(keys, [2, 3])).rewrap({ batchSize: 2 });
    expect(rerun).toEqual({
      activeVersion: 3,
      total: total - 3,
      rewrapped: total - 3,
      skipped: 0,
      failed: [],
    });
    expect(await dataKeyVersions()).toEqual({ 3: total });
    const after = await database.db
      .selectFrom('data_keys')
      .select(['user_id', 'version'])
      .orderBy('user_id')
      .execute();
    expect(after).toEqual(before);
    // Wrapped exactly once under v3: a keyring with nothing but v3 opens every data key.
    await expectAllReadable(kmsFor(keys, [3]));
    const failedEvents = (await open(kmsFor(keys, [3])).listAudit({ limit: 1000 })).filter(
      (event) => event.action === 'keyring.rewrap' && event.detail.activeVersion === 3,
    );
    expect(failedEvents.map((event) => event.detail.failed)).toEqual([total - 3, 0]);
  });

  it('security 12: a rewrap whose database write fails part-way throws, and a rerun completes', async () => {
    const total = Object.values(await dataKeyVersions()).reduce((sum, count) => sum + count, 0);
    let updates = 0;
    const brokenDb = database.db.withPlugin(
      failingQueries(({ sql: text }) => {
        if (!text?.includes('update data_keys')) return false;
        updates += 1;
        return updates > 1;
      }),
    );
    const broken = open(kmsFor(keys, [3, 4]), { db: brokenDb });
    const error = await failure(() => broken.rewrap({ batchSize: 3 }));
    expect(String(error)).toContain('injected database failure');
    expect(await dataKeyVersions()).toEqual({ 3: total - 3, 4: 3 });
    await expectAllReadable(kmsFor(keys, [3, 4]));

    const rerun = await open(kmsFor(keys, [3, 4])).rewrap({ batchSize: 3 });
    expect(rerun).toEqual({
      activeVersion: 4,
      total: total - 3,
      rewrapped: total - 3,
      skipped: 0,
      failed: [],
    });
    expect(await dataKeyVersions()).toEqual({ 4: total });
    await expectAllReadable(kmsFor(keys, [4]));
    expect((await open(kmsFor(keys, [4])).verifyAudit()).ok).toBe(true);
  });

  it('names a data key whose master key is not in the keyring as a failure instead of losing it', async () => {
    const userId = randomUserId('orphan');
    // A data key wrapped with v3 while the rewrapping keyring holds only v4 (v3 was dropped too early).
    // The writer holds v4 too: the audit chain's data key is already on v4.
    await storeWith(open(kmsFor(keys, [3, 4], 3)), userId, 'runway');
    const result = await open(kmsFor(keys, [4])).rewrap();
    expect(result.failed).toEqual([
      { userId, version: 1, kekVersion: 3, reason: 'master key v3 is not in the keyring' },
    ]);
    const row = await sql<{
      kek_version: number;
    }>`select kek_version from data_keys where user_id = ${userId}`.execute(database.db);
    expect(row.rows).toEqual([{ kek_version: 3 }]);
    expect((await open(kmsFor(keys, [3, 4])).rewrap()).rewrapped).toBe(1);
    await expectAllReadable(kmsFor(keys, [4]));
  });
});
