import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DataKeyContext } from './context.ts';
import { DecryptionError, KeyVersionMissingError } from './errors.ts';
import { createKeyring, parseMasterKeys } from './keyring.ts';
import { createLocalKms, type WrappedDataKey } from './kms.ts';

/** The local KMS: data keys wrapped by the active master key, bound to tenant, user and versions. */

const base64Key = () => randomBytes(32).toString('base64');
const context: DataKeyContext = { tenant: 'default', userId: 'usr_alice', dekVersion: 1 };
const dek = randomBytes(32);

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    return { resolved: await promise };
  } catch (error) {
    return error;
  }
}

describe('createLocalKms', () => {
  it('wraps with the active version and unwraps to the same key, into a fresh buffer', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${base64Key()},v2:${base64Key()}`));
    expect(kms.activeVersion()).toBe(2);
    expect(kms.versions()).toEqual([1, 2]);
    const wrapped = await kms.wrap(dek, context);
    expect(wrapped.kekVersion).toBe(2);
    expect(wrapped.wrapped).toHaveLength(12 + 32 + 16);
    expect(wrapped.wrapped.includes(dek)).toBe(false);
    const unwrapped = await kms.unwrap(wrapped, context);
    expect(unwrapped).toEqual(dek);
    expect(unwrapped.buffer).not.toBe(dek.buffer);
  });

  it('wrapping the same key twice gives different IVs and wrapped bytes', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${base64Key()}`));
    const first = await kms.wrap(dek, context);
    const second = await kms.wrap(dek, context);
    expect(first.wrapped.subarray(0, 12).equals(second.wrapped.subarray(0, 12))).toBe(false);
    expect(first.wrapped.equals(second.wrapped)).toBe(false);
  });

  it('refuses to wrap a data key that is not 32 bytes (it could never be unwrapped)', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${base64Key()}`));
    for (const length of [0, 16, 31, 33, 64]) {
      expect(await failure(kms.wrap(randomBytes(length), context)), `${length} bytes`).toBeInstanceOf(
        RangeError,
      );
    }
  });

  it.each<[string, Partial<DataKeyContext>]>([
    ['another tenant', { tenant: 'acme' }],
    ['another user', { userId: 'usr_bob' }],
    ['another data key version', { dekVersion: 2 }],
    ['a user id that shares a prefix', { userId: 'usr_alice2' }],
  ])('unwrapping for %s fails', async (_name, change) => {
    const kms = createLocalKms(parseMasterKeys(`v1:${base64Key()}`));
    const wrapped = await kms.wrap(dek, context);
    const error = await failure(kms.unwrap(wrapped, { ...context, ...change }));
    expect(error).toBeInstanceOf(DecryptionError);
    expect((error as DecryptionError).failure).toBe('authentication_failed');
    expect(await kms.unwrap(wrapped, context)).toEqual(dek);
  });

  it('a wrapped key claiming another existing master key version fails, even when that version holds the same key', async () => {
    const first = base64Key();
    const distinct = createLocalKms(parseMasterKeys(`v1:${first},v2:${base64Key()}`, 'v1'));
    const sameBytes = createLocalKms(parseMasterKeys(`v1:${first},v2:${first}`, 'v1'));
    for (const kms of [distinct, sameBytes]) {
      const wrapped = await kms.wrap(dek, context);
      expect(wrapped.kekVersion).toBe(1);
      const error = await failure(kms.unwrap({ ...wrapped, kekVersion: 2 }, context));
      expect(error).toBeInstanceOf(DecryptionError);
      expect((error as DecryptionError).failure).toBe('authentication_failed');
    }
  });

  it('an unknown master key version gives KeyVersionMissingError', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${base64Key()}`));
    const wrapped = await kms.wrap(dek, context);
    for (const kekVersion of [0, 2, 99]) {
      expect(await failure(kms.unwrap({ ...wrapped, kekVersion }, context))).toBeInstanceOf(
        KeyVersionMissingError,
      );
    }
  });

  it('a wrapped blob of the wrong length gives DecryptionError (malformed)', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${base64Key()}`));
    const { kekVersion, wrapped } = await kms.wrap(dek, context);
    const candidates = [
      Buffer.alloc(0),
      wrapped.subarray(0, 59),
      wrapped.subarray(0, 44),
      Buffer.concat([wrapped, Buffer.from([0])]),
      Buffer.concat([wrapped.subarray(0, 12), randomBytes(16), wrapped.subarray(-16)]),
    ];
    for (const candidate of candidates) {
      const error = await failure(kms.unwrap({ kekVersion, wrapped: candidate }, context));
      expect(error, `${candidate.length} bytes`).toBeInstanceOf(DecryptionError);
      expect((error as DecryptionError).failure).toBe('malformed');
    }
  });

  it('every flipped bit of a wrapped key fails', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${base64Key()}`));
    const wrapped = await kms.wrap(dek, context);
    for (let bit = 0; bit < wrapped.wrapped.length * 8; bit += 1) {
      const tampered = Buffer.from(wrapped.wrapped);
      tampered[bit >> 3] = (tampered[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      const error = await failure(kms.unwrap({ ...wrapped, wrapped: tampered }, context));
      expect(error, `bit ${bit}`).toBeInstanceOf(DecryptionError);
    }
  });

  it('after master key rotation, old wraps still unwrap and new wraps use the new version', async () => {
    const v1 = base64Key();
    const before = createLocalKms(parseMasterKeys(`v1:${v1}`));
    const old = await before.wrap(dek, context);
    const after = createLocalKms(parseMasterKeys(`v1:${v1},v2:${base64Key()}`));
    expect(await after.unwrap(old, context)).toEqual(dek);
    const fresh = await after.wrap(dek, context);
    expect(fresh.kekVersion).toBe(2);
    expect(await failure(before.unwrap(fresh, context))).toBeInstanceOf(KeyVersionMissingError);
  });

  it('still unwraps a data key wrapped by this version (stored keys stay readable)', async () => {
    const keyring = createKeyring(new Map([[2, Buffer.alloc(32, 0x42)]]), 'KEYHAVEN_MASTER_KEYS');
    const stored: WrappedDataKey = {
      kekVersion: 2,
      wrapped: Buffer.from(
        'c04e2c31cd6471c611cc24289d48ebed0d4572cb09f6bf5ea7279d0c702fbf1d9a30c286ebabbb48705f4bc392291c13a3424feb31abdbfdab88c575',
        'hex',
      ),
    };
    const unwrapped = await createLocalKms(keyring).unwrap(stored, {
      tenant: 'default',
      userId: 'usr_regression',
      dekVersion: 3,
    });
    expect(unwrapped.toString('hex')).toBe(
      '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    );
  });
});
