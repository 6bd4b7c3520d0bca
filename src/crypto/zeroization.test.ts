import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { sampleContext } from '../../test/support/crypto.ts';
import { aesGcmDecrypt, aesGcmEncrypt } from './aead.ts';
import { type DataKeySet, decryptRecord, encryptRecord, fingerprintSecret } from './blob.ts';
import type { RecordContext } from './context.ts';
import { DecryptionError, KeyVersionMissingError } from './errors.ts';
import { parseMasterKeys } from './keyring.ts';
import { createLocalKms } from './kms.ts';

/**
 * Security test 23: every key derived by HKDF and every partial plaintext a decipher hands out is zero
 * once the operation is over, success or failure. node:crypto is wrapped (real functions underneath)
 * to record the buffers it returns; kept in its own file so the mock does not reach other suites.
 */
const recorded = vi.hoisted(() => ({
  derived: [] as ArrayBuffer[],
  /** Each decipher.update() output, and a copy of what it held when it was returned. */
  updates: [] as { output: Buffer; atReturn: Buffer }[],
}));

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    hkdfSync: (...args: Parameters<typeof actual.hkdfSync>) => {
      const output = actual.hkdfSync(...args);
      recorded.derived.push(output);
      return output;
    },
    createDecipheriv: (...args: Parameters<typeof actual.createDecipheriv>) => {
      const decipher = actual.createDecipheriv(...args);
      const update = decipher.update.bind(decipher);
      Object.defineProperty(decipher, 'update', {
        value: (data: Uint8Array) => {
          const output = update(data);
          recorded.updates.push({ output, atReturn: Buffer.from(output) });
          return output;
        },
      });
      return decipher;
    },
  };
});

const isZero = (bytes: Uint8Array) => bytes.every((byte) => byte === 0);

function expectDerivedKeysZeroed(count: number) {
  expect(recorded.derived).toHaveLength(count);
  for (const [index, buffer] of recorded.derived.entries()) {
    expect(buffer.byteLength, `derived key ${index}`).toBe(32);
    expect(isZero(new Uint8Array(buffer)), `derived key ${index} was not zeroed`).toBe(true);
  }
}

const context: RecordContext = sampleContext;
const dek = randomBytes(32);
const keys: DataKeySet = { get: (version) => (version === 1 ? dek : undefined), minVersion: 1 };
const secret = Buffer.from(`sk-zeroize-${randomBytes(16).toString('hex')}`);

function attempt(operation: () => unknown): unknown {
  try {
    return operation();
  } catch (error) {
    return error;
  }
}

beforeEach(() => {
  recorded.derived.length = 0;
  recorded.updates.length = 0;
});

describe('derived keys are zeroed', () => {
  it('after encryptRecord (encryption key and commitment)', () => {
    encryptRecord({ version: 1, key: dek }, secret, context);
    expectDerivedKeysZeroed(2);
  });

  it('after a successful decryptRecord, which still returns the plaintext', () => {
    const blob = encryptRecord({ version: 1, key: dek }, secret, context);
    recorded.derived.length = 0;
    expect(decryptRecord(blob, keys, context)).toEqual(secret);
    expectDerivedKeysZeroed(2);
  });

  it('after a commitment mismatch (wrong data key)', () => {
    const blob = encryptRecord({ version: 1, key: dek }, secret, context);
    recorded.derived.length = 0;
    const wrongKeys: DataKeySet = { get: () => randomBytes(32), minVersion: 1 };
    expect(attempt(() => decryptRecord(blob, wrongKeys, context))).toBeInstanceOf(DecryptionError);
    expectDerivedKeysZeroed(1);
  });

  it('after a GCM failure (wrong context)', () => {
    const blob = encryptRecord({ version: 1, key: dek }, secret, context);
    recorded.derived.length = 0;
    const other = { ...context, userId: 'usr_bob' };
    expect(attempt(() => decryptRecord(blob, keys, other))).toBeInstanceOf(DecryptionError);
    expectDerivedKeysZeroed(2);
  });

  it('after fingerprintSecret', () => {
    fingerprintSecret(dek, secret);
    expectDerivedKeysZeroed(1);
  });
});

describe('partial plaintext from decipher.update() is zeroed when the tag does not verify', () => {
  function expectUpdatesZeroed() {
    expect(recorded.updates).toHaveLength(1);
    for (const { output, atReturn } of recorded.updates) {
      // Node really did hand out the plaintext before final() refused the tag...
      expect(atReturn.length).toBeGreaterThan(0);
      expect(isZero(atReturn)).toBe(false);
      // ...and it was wiped.
      expect(isZero(output), 'partial plaintext left in memory').toBe(true);
    }
  }

  it('in aesGcmDecrypt with a wrong tag', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const { ciphertext, tag } = aesGcmEncrypt(key, iv, secret, Buffer.alloc(0));
    tag[0] = (tag[0] ?? 0) ^ 1;
    expect(attempt(() => aesGcmDecrypt(key, iv, ciphertext, tag, Buffer.alloc(0)))).toBeInstanceOf(
      DecryptionError,
    );
    expect(recorded.updates[0]?.atReturn).toEqual(secret);
    expectUpdatesZeroed();
  });

  it('in decryptRecord with a swapped context', () => {
    const blob = encryptRecord({ version: 1, key: dek }, secret, context);
    const other = { ...context, credentialId: 'cred_0002' };
    expect(attempt(() => decryptRecord(blob, keys, other))).toBeInstanceOf(DecryptionError);
    expectUpdatesZeroed();
  });

  it('in the local KMS unwrap with a wrong context (the candidate data key)', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${randomBytes(32).toString('base64')}`));
    const wrapped = await kms.wrap(dek, { tenant: 'default', userId: 'usr_alice', dekVersion: 1 });
    await expect(
      kms.unwrap(wrapped, { tenant: 'default', userId: 'usr_bob', dekVersion: 1 }),
    ).rejects.toBeInstanceOf(DecryptionError);
    expect(recorded.updates[0]?.atReturn).toEqual(dek);
    expectUpdatesZeroed();
  });

  it('but not on success: the returned plaintext is intact', () => {
    const blob = encryptRecord({ version: 1, key: dek }, secret, context);
    expect(decryptRecord(blob, keys, context)).toEqual(secret);
  });
});

describe('Keyring.destroy', () => {
  it('zeroes every master key and makes the keyring unusable', async () => {
    const keyring = parseMasterKeys(
      `v1:${randomBytes(32).toString('base64')},v2:${randomBytes(32).toString('base64')}`,
    );
    const held = keyring.versions.map((version) => keyring.key(version));
    expect(held).toHaveLength(2);
    for (const key of held) expect(key && !isZero(key)).toBe(true);
    keyring.destroy();
    for (const key of held) expect(key && isZero(key)).toBe(true);
    expect(keyring.key(1)).toBeUndefined();
    expect(keyring.key(2)).toBeUndefined();
    await expect(
      createLocalKms(keyring).wrap(dek, { tenant: 'default', userId: 'usr_alice', dekVersion: 1 }),
    ).rejects.toBeInstanceOf(KeyVersionMissingError);
  });
});

describe('lint stand-in', () => {
  it('no source file in src/crypto uses Buffer.allocUnsafe (pooled, never zeroed)', () => {
    const directory = dirname(fileURLToPath(import.meta.url));
    const sources = readdirSync(directory).filter(
      (name) => name.endsWith('.ts') && !name.endsWith('.test.ts'),
    );
    expect(sources).toContain('blob.ts');
    expect(sources).toContain('keyring.ts');
    for (const name of sources) {
      expect(readFileSync(join(directory, name), 'utf8'), name).not.toMatch(/allocUnsafe/);
    }
  });
});
