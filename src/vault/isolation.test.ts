import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import {
  type CountingKms,
  catalogProviders,
  countingKms,
  errorText,
  expectKeyhavenError,
  failure,
  fakeApiKey,
  randomUserId,
  secretForms,
  singleKeyKms,
} from '../../test/support/vault.ts';
import { DecryptionError, decryptRecord, type Kms } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import type { CredentialRow, Tables } from '../store/index.ts';
import { createVault, type Vault } from './index.ts';

/**
 * Security tests 6, 18 and 19 and blob tampering, at the vault's level: what an attacker with write
 * access to the database, a restored backup, or another user's session can get out of the vault.
 */
describe.each(databaseTargets)('isolation, crypto-shredding and tampering on $name', (target) => {
  let database: TestDatabase;
  let kms: CountingKms;
  let vault: Vault;

  beforeAll(async () => {
    database = await target.open();
    kms = countingKms(singleKeyKms());
    vault = createVault({ db: database.db, kms });
  });

  afterAll(async () => {
    await vault?.close();
    await database?.close();
  });

  /** A vault with cold caches on the same database, so a reveal reads what is in the table now. */
  async function withFreshVault<T>(run: (fresh: Vault) => Promise<T>): Promise<T> {
    const fresh = createVault({ db: database.db, kms });
    try {
      return await run(fresh);
    } finally {
      await fresh.close();
    }
  }

  async function store(userId: string, provider: string, apiKey = fakeApiKey()) {
    const summary = await vault.store({ userId, provider, credentials: { apiKey }, validate: false });
    return { apiKey, credentialId: summary.credentialId ?? '' };
  }

  function row(credentialId: string) {
    return database.db
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', credentialId)
      .executeTakeFirstOrThrow();
  }

  function setSecret(credentialId: string, secret: Buffer) {
    return database.db.updateTable('credentials').set({ secret }).where('id', '=', credentialId).execute();
  }

  describe('security 19: one user can never reach another user’s credential', () => {
    it('holds for random user pairs, with no data key unwrapped for the intruder (property)', async () => {
      const userIdPart = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,40}$/);
      await fc.assert(
        fc.asyncProperty(
          userIdPart,
          userIdPart,
          fc.constantFrom(...catalogProviders),
          fc.boolean(),
          async (ownerPart, intruderPart, provider, intruderHasOwnKey) => {
            fc.pre(ownerPart !== intruderPart);
            // A run-unique prefix keeps runs apart; the random parts may differ only by case or a suffix.
            const run = randomBytes(4).toString('hex');
            const owner = `${run}${ownerPart}`;
            const intruder = `${run}${intruderPart}`;
            const { apiKey, credentialId } = await store(owner, provider);
            await vault.retain({ userId: owner, credentialId, holder: 'vid_owner' });
            // The intruder may hold a key of their own, for another provider.
            const intruderProvider = provider === 'openai' ? 'mistral' : 'openai';
            const intruderKey = intruderHasOwnKey ? await store(intruder, intruderProvider) : undefined;

            kms.reset();
            const attempts: [string, () => Promise<unknown>][] = [
              ['reveal', () => vault.reveal({ userId: intruder, provider, purpose: 'proxy' })],
              [
                'revealVersion',
                () => vault.revealVersion({ userId: intruder, credentialId, purpose: 'proxy' }),
              ],
              ['retain', () => vault.retain({ userId: intruder, credentialId, holder: 'vid_intruder' })],
              ['release', () => vault.release({ userId: intruder, credentialId, holder: 'vid_owner' })],
              ['remove', () => vault.remove({ userId: intruder, provider })],
              ['test', () => vault.test({ userId: intruder, provider })],
              [
                'markInvalid',
                () => vault.markInvalid({ userId: intruder, provider, reason: 'x', credentialId }),
              ],
              ['markValidated', () => vault.markValidated({ userId: intruder, provider, credentialId })],
            ];
            for (const [name, attempt] of attempts) {
              const error = await failure(attempt);
              expect(error instanceof KeyhavenError && error.code, name).toBe('not_found');
              expect(errorText(error)).not.toContain(apiKey);
            }
            expect((await vault.get({ userId: intruder, provider })).connected).toBe(false);
            const intruderList = await vault.list({ userId: intruder });
            expect(intruderList.filter((entry) => entry.credentialId === credentialId)).toEqual([]);
            expect(kms.unwraps).toBe(0);
            if (intruderKey) {
              const own = await vault.reveal({
                userId: intruder,
                provider: intruderProvider,
                purpose: 'proxy',
              });
              expect(own.credentials.apiKey?.reveal()).toBe(intruderKey.apiKey);
            }

            // The owner's credential, status and reference are as they were.
            const revealed = await vault.revealVersion({ userId: owner, credentialId, purpose: 'proxy' });
            expect(revealed.credentials.apiKey?.reveal()).toBe(apiKey);
            expect(await vault.get({ userId: owner, provider })).toMatchObject({
              credentialId,
              status: 'unverified',
            });
            const references = await database.db
              .selectFrom('credential_references')
              .select(['holder', 'user_id'])
              .where('credential_id', '=', credentialId)
              .execute();
            expect(references).toEqual([{ holder: 'vid_owner', user_id: owner }]);
          },
        ),
        { numRuns: 12 },
      );
    });

    it('refuses calls without a user id, at compile time and at run time', async () => {
      await expectKeyhavenError(
        // @ts-expect-error userId is required
        () => vault.reveal({ provider: 'openai', purpose: 'proxy' }),
        'invalid_request',
      );
      await expectKeyhavenError(
        // @ts-expect-error userId is required
        () => vault.store({ provider: 'openai', credentials: { apiKey: fakeApiKey() } }),
        'invalid_request',
      );
      await expectKeyhavenError(
        // @ts-expect-error userId is required
        () => vault.revealVersion({ credentialId: 'cred_000000000000000000000000', purpose: 'proxy' }),
        'invalid_request',
      );
      // @ts-expect-error userId is required
      await expectKeyhavenError(() => vault.list({}), 'invalid_request');
    });
  });

  describe('security 18: crypto-shredding a user', () => {
    /** What an attacker holding a backup copy of a credential row and the live master keys would do. */
    async function decryptWithLiveKeys(db: Kysely<Tables>, liveKms: Kms, saved: CredentialRow) {
      const dataKey = await db
        .selectFrom('data_keys')
        .selectAll()
        .where('user_id', '=', saved.user_id)
        .where('version', '=', saved.dek_version)
        .executeTakeFirst();
      const key = dataKey
        ? await liveKms.unwrap(
            { kekVersion: dataKey.kek_version, wrapped: dataKey.wrapped_key },
            { tenant: 'default', userId: saved.user_id, dekVersion: saved.dek_version },
          )
        : undefined;
      return decryptRecord(
        saved.secret,
        { get: (version) => (version === saved.dek_version ? key : undefined), minVersion: 1 },
        {
          tenant: 'default',
          userId: saved.user_id,
          credentialId: saved.id,
          provider: saved.provider,
          field: 'credentials',
        },
      ).toString();
    }

    it('makes a saved copy of the user’s rows undecryptable and leaves other users alone', async () => {
      const shredded = randomUserId('shredded');
      const bystander = randomUserId('bystander');
      const first = await store(shredded, 'openai');
      await vault.retain({ userId: shredded, credentialId: first.credentialId, holder: 'vid_1' });
      const second = await store(shredded, 'openai');
      await store(shredded, 'anthropic');
      const kept = await store(bystander, 'openai');
      await vault.reveal({ userId: shredded, provider: 'openai', purpose: 'proxy' });

      const backup = await row(second.credentialId);
      expect(await decryptWithLiveKeys(database.db, kms, backup)).toBe(
        JSON.stringify({ apiKey: second.apiKey }),
      );
      const dataKeysBefore = await database.db
        .selectFrom('data_keys')
        .selectAll()
        .where('user_id', '=', shredded)
        .execute();
      expect(dataKeysBefore).toHaveLength(1);

      expect(await vault.shred({ userId: shredded })).toEqual({ dataKeys: 1, credentials: 3 });

      for (const table of ['data_keys', 'credentials', 'credential_references'] as const) {
        const left = await database.db
          .selectFrom(table)
          .select('user_id')
          .where('user_id', '=', shredded)
          .execute();
        expect(left, table).toEqual([]);
      }
      const decryptError = await failure(() => decryptWithLiveKeys(database.db, kms, backup));
      expect(decryptError).toBeInstanceOf(DecryptionError);
      expect(errorText(decryptError)).not.toContain(second.apiKey);

      await expectKeyhavenError(
        () => vault.reveal({ userId: shredded, provider: 'openai', purpose: 'proxy' }),
        'not_found',
      );
      await expectKeyhavenError(
        () => vault.revealVersion({ userId: shredded, credentialId: first.credentialId, purpose: 'proxy' }),
        'not_found',
      );
      expect((await vault.get({ userId: shredded, provider: 'openai' })).connected).toBe(false);
      expect((await vault.list({ userId: shredded })).some((entry) => entry.connected)).toBe(false);

      // The backup row restored into the live table: still nothing, not even with a cold cache.
      await database.db.insertInto('credentials').values(backup).execute();
      await withFreshVault(async (fresh) => {
        await expectKeyhavenError(
          () => fresh.reveal({ userId: shredded, provider: 'openai', purpose: 'proxy' }),
          'not_found',
        );
        // The user comes back and gets a new data key: the old blob does not open under it either.
        await fresh.store({
          userId: shredded,
          provider: 'mistral',
          credentials: { apiKey: fakeApiKey() },
          validate: false,
        });
        const error = await expectKeyhavenError(
          () => fresh.reveal({ userId: shredded, provider: 'openai', purpose: 'proxy' }),
          'decryption_failed',
        );
        expect(errorText(error)).not.toContain(second.apiKey);
      });
      const newKey = await database.db
        .selectFrom('data_keys')
        .select('wrapped_key')
        .where('user_id', '=', shredded)
        .executeTakeFirstOrThrow();
      expect(Buffer.from(newKey.wrapped_key).equals(Buffer.from(dataKeysBefore[0]?.wrapped_key ?? []))).toBe(
        false,
      );

      // The bystander is untouched.
      const revealed = await vault.reveal({ userId: bystander, provider: 'openai', purpose: 'proxy' });
      expect(revealed.credentials.apiKey?.reveal()).toBe(kept.apiKey);
      await withFreshVault(async (fresh) => {
        const cold = await fresh.reveal({ userId: bystander, provider: 'openai', purpose: 'proxy' });
        expect(cold.credentials.apiKey?.reveal()).toBe(kept.apiKey);
      });
      const shredEvent = (await vault.listAudit({ userId: shredded })).find(
        (event) => event.action === 'user.shred',
      );
      expect(shredEvent?.detail).toEqual({ dataKeys: 1, credentials: 3 });
      expect(await vault.shred({ userId: shredded })).toEqual({ dataKeys: 1, credentials: 2 });
    });
  });

  describe('security 6: a blob moved to another row does not decrypt', () => {
    it('fails with decryption_failed in another user’s row, another provider’s row and another version’s row', async () => {
      const owner = randomUserId('owner');
      const other = randomUserId('other');
      const source = await store(owner, 'openai');
      const ownerMistral = await store(owner, 'mistral');
      const otherOpenai = await store(other, 'openai');
      await vault.retain({ userId: owner, credentialId: source.credentialId, holder: 'vid_keep' });
      const ownerNewVersion = await store(owner, 'openai');
      const blob = Buffer.from((await row(source.credentialId)).secret);

      const targets = [
        { userId: other, provider: 'openai', credentialId: otherOpenai.credentialId },
        { userId: owner, provider: 'mistral', credentialId: ownerMistral.credentialId },
        { userId: owner, provider: 'openai', credentialId: ownerNewVersion.credentialId },
      ];
      for (const swap of targets) {
        const original = Buffer.from((await row(swap.credentialId)).secret);
        await setSecret(swap.credentialId, blob);
        await withFreshVault(async (fresh) => {
          for (const attempt of [
            () => fresh.reveal({ userId: swap.userId, provider: swap.provider, purpose: 'proxy' }),
            () =>
              fresh.revealVersion({ userId: swap.userId, credentialId: swap.credentialId, purpose: 'proxy' }),
          ]) {
            const error = await expectKeyhavenError(attempt, 'decryption_failed');
            for (const form of secretForms(source.apiKey)) expect(errorText(error)).not.toContain(form);
          }
        });
        await setSecret(swap.credentialId, original);
      }
      // Put back, every row reads again, and the source blob still opens in its own row.
      await withFreshVault(async (fresh) => {
        const own = await fresh.revealVersion({
          userId: owner,
          credentialId: source.credentialId,
          purpose: 'proxy',
        });
        expect(own.credentials.apiKey?.reveal()).toBe(source.apiKey);
        const theirs = await fresh.reveal({ userId: other, provider: 'openai', purpose: 'proxy' });
        expect(theirs.credentials.apiKey?.reveal()).toBe(otherOpenai.apiKey);
      });
    });
  });

  describe('tampering', () => {
    it('turns a flipped byte anywhere in a stored blob into decryption_failed without the secret', async () => {
      const userId = randomUserId('tamper');
      const { apiKey, credentialId } = await store(userId, 'anthropic');
      // PGlite hands bytea back as a Uint8Array: copy it into a Buffer.
      const original = Buffer.from((await row(credentialId)).secret);
      // format, suite, data key version, salt, commitment, IV, ciphertext, last tag byte.
      const positions = [0, 1, 5, 6, 40, 75, 82, 90, original.length - 1];
      for (const position of positions) {
        const tampered = Buffer.from(original);
        tampered[position] = (tampered[position] ?? 0) ^ 0x01;
        await setSecret(credentialId, tampered);
        const error = await expectKeyhavenError(
          () => vault.reveal({ userId, provider: 'anthropic', purpose: 'proxy' }),
          'decryption_failed',
        );
        expect(error.message).toBe('the stored credential could not be decrypted');
        for (const form of secretForms(apiKey)) expect(errorText(error)).not.toContain(form);
        await expectKeyhavenError(
          () => vault.revealVersion({ userId, credentialId, purpose: 'proxy' }),
          'decryption_failed',
        );
      }
      for (const blob of [
        original.subarray(0, original.length - 1),
        Buffer.concat([original, Buffer.from([0])]),
        Buffer.alloc(0),
      ]) {
        await setSecret(credentialId, blob);
        await expectKeyhavenError(
          () => vault.reveal({ userId, provider: 'anthropic', purpose: 'proxy' }),
          'decryption_failed',
        );
      }
      await setSecret(credentialId, original);
      const revealed = await vault.reveal({ userId, provider: 'anthropic', purpose: 'proxy' });
      expect(revealed.credentials.apiKey?.reveal()).toBe(apiKey);
    });

    it('turns a tampered wrapped data key into decryption_failed', async () => {
      const userId = randomUserId('tamper-dek');
      const { apiKey } = await store(userId, 'openai');
      const dataKey = await database.db
        .selectFrom('data_keys')
        .select('wrapped_key')
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow();
      const tampered = Buffer.from(dataKey.wrapped_key);
      tampered[20] = (tampered[20] ?? 0) ^ 0x80;
      const setWrapped = (wrapped: Buffer) =>
        database.db
          .updateTable('data_keys')
          .set({ wrapped_key: wrapped })
          .where('user_id', '=', userId)
          .execute();
      await setWrapped(tampered);
      await withFreshVault(async (fresh) => {
        const error = await expectKeyhavenError(
          () => fresh.reveal({ userId, provider: 'openai', purpose: 'proxy' }),
          'decryption_failed',
        );
        expect(errorText(error)).not.toContain(apiKey);
      });
      await setWrapped(dataKey.wrapped_key);
      await withFreshVault(async (fresh) => {
        const revealed = await fresh.reveal({ userId, provider: 'openai', purpose: 'proxy' });
        expect(revealed.credentials.apiKey?.reveal()).toBe(apiKey);
      });
    });
  });
});
