import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import { fakeApiKey, kmsFor, masterKeySet, randomUserId } from '../../test/support/vault.ts';
import { isKeyhavenError } from '../errors.ts';
import { createVault, type Vault } from './index.ts';

/**
 * After the minimum decryption version is raised, an instance still configured with an older active
 * master key must refuse to write data keys nobody could open again, instead of writing them.
 */
describe.each(databaseTargets)('a retired active master key on $name', (target) => {
  const keys = masterKeySet(1, 2);
  let database: TestDatabase;
  const vaults: Vault[] = [];
  const open = (versions: number[], active?: number) => {
    const vault = createVault({ db: database.db, kms: kmsFor(keys, versions, active) });
    vaults.push(vault);
    return vault;
  };

  beforeAll(async () => {
    database = await target.open();
  });
  afterAll(async () => {
    for (const vault of vaults) await vault.close();
    await database?.close();
  });

  it('refuses to create data keys or rewrap with a master key below the minimum', async () => {
    const current = open([1, 2]);
    const existingUser = randomUserId('existing');
    await current.store({
      userId: existingUser,
      provider: 'openai',
      credentials: { apiKey: fakeApiKey() },
      validate: false,
    });
    await current.rewrap();
    await current.setMinDecryptVersion({ version: 2 });

    const stale = open([1, 2], 1);
    const newcomer = stale
      .store({
        userId: randomUserId('newcomer'),
        provider: 'openai',
        credentials: { apiKey: fakeApiKey() },
        validate: false,
      })
      .catch((error: unknown) => error);
    expect(isKeyhavenError(await newcomer, 'invalid_config')).toBe(true);
    expect(String(await newcomer)).toContain('older than the minimum decryption version v2');
    const rewrap = await stale.rewrap().catch((error: unknown) => error);
    expect(isKeyhavenError(rewrap, 'invalid_config')).toBe(true);
    expect((await current.keyStatus()).dataKeysByMasterKeyVersion).toEqual({ 2: 2 });
    // A user who already has a data key (on v2) can still rotate through the stale instance.
    await expect(
      stale.store({
        userId: existingUser,
        provider: 'openai',
        credentials: { apiKey: fakeApiKey() },
        validate: false,
      }),
    ).resolves.toMatchObject({ version: 2 });
  });
});
