import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import { createLocalKms, DecryptionError, generateMasterKey, parseMasterKeys } from '../crypto/index.ts';
import { createVault } from '../vault/index.ts';
import { createSecretBox, generateWebhookSecret, WEBHOOK_KEY_OWNER } from './secrets.ts';

describe.each(databaseTargets)('webhook secrets at rest on $name', (target) => {
  let database: TestDatabase;
  const masterKeys = `v1:${generateMasterKey()}`;
  const box = () =>
    createSecretBox({
      db: database.db,
      kms: createLocalKms(parseMasterKeys(masterKeys)),
      tenant: 'default',
      clock: () => new Date(),
    });

  beforeAll(async () => {
    database = await target.open();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('generates whsec_ secrets of 32 random bytes, never printed', () => {
    const secret = generateWebhookSecret();
    expect(secret.reveal()).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.reveal().slice(6), 'base64')).toHaveLength(32);
    expect(String(secret)).toBe('[REDACTED]');
    expect(JSON.stringify({ secret })).not.toContain('whsec_');
    expect(generateWebhookSecret().reveal()).not.toBe(secret.reveal());
  });

  it('seals under the reserved owner data key; opens only for the row it was sealed for', async () => {
    const secrets = box();
    const secret = generateWebhookSecret();
    const sealed = await secrets.seal('endpoint', 'whk_aaaaaaaaaaaaaaaaaaaaaaaa', secret);
    expect(sealed.secret.toString('latin1')).not.toContain(secret.reveal());
    expect(sealed.secret.toString('hex')).not.toContain(
      Buffer.from(secret.reveal().slice(6), 'base64').toString('hex'),
    );
    const owners = await database.db.selectFrom('data_keys').select('user_id').execute();
    expect(owners.map((row) => row.user_id)).toContain(WEBHOOK_KEY_OWNER);

    expect((await secrets.open('endpoint', 'whk_aaaaaaaaaaaaaaaaaaaaaaaa', sealed)).reveal()).toBe(
      secret.reveal(),
    );
    // Another server process with the same master key opens it too (nothing lives only in memory).
    expect((await box().open('endpoint', 'whk_aaaaaaaaaaaaaaaaaaaaaaaa', sealed)).reveal()).toBe(
      secret.reveal(),
    );
    // Moved onto another endpoint's row, or used as the signing secret: refused.
    await expect(secrets.open('endpoint', 'whk_bbbbbbbbbbbbbbbbbbbbbbbb', sealed)).rejects.toBeInstanceOf(
      DecryptionError,
    );
    await expect(secrets.open('signing', 'whk_aaaaaaaaaaaaaaaaaaaaaaaa', sealed)).rejects.toBeInstanceOf(
      DecryptionError,
    );
    const flipped = Buffer.from(sealed.secret);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    await expect(
      secrets.open('endpoint', 'whk_aaaaaaaaaaaaaaaaaaaaaaaa', { ...sealed, secret: flipped }),
    ).rejects.toBeInstanceOf(DecryptionError);
  });

  it('a different master key cannot open the data key', async () => {
    const sealed = await box().seal('signing', 'default', generateWebhookSecret());
    const stranger = createSecretBox({
      db: database.db,
      kms: createLocalKms(parseMasterKeys(`v1:${generateMasterKey()}`)),
      tenant: 'default',
      clock: () => new Date(),
    });
    await expect(stranger.open('signing', 'default', sealed)).rejects.toThrow();
  });

  it('master-key rotation re-wraps the webhook data key: secrets open with only the new master key', async () => {
    const second = generateMasterKey();
    const sealed = await box().seal('endpoint', 'whk_cccccccccccccccccccccccc', generateWebhookSecret());
    const before = await box().open('endpoint', 'whk_cccccccccccccccccccccccc', sealed);
    const vault = createVault({
      db: database.db,
      kms: createLocalKms(parseMasterKeys(`${masterKeys},v2:${second}`)),
    });
    try {
      const result = await vault.rewrap();
      expect(result.failed).toEqual([]);
    } finally {
      await vault.close();
    }
    const row = await database.db
      .selectFrom('data_keys')
      .select('kek_version')
      .where('user_id', '=', WEBHOOK_KEY_OWNER)
      .executeTakeFirstOrThrow();
    expect(row.kek_version).toBe(2);
    const rotated = createSecretBox({
      db: database.db,
      kms: createLocalKms(parseMasterKeys(`v2:${second}`)),
      tenant: 'default',
      clock: () => new Date(),
    });
    const after = await rotated.open('endpoint', 'whk_cccccccccccccccccccccccc', sealed);
    expect(after.equals(before)).toBe(true);
  });
});
