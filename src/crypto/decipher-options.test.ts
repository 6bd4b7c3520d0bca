import { createDecipheriv, randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { sampleContext } from '../../test/support/crypto.ts';
import { aesGcmDecrypt, aesGcmEncrypt } from './aead.ts';
import { type DataKeySet, decryptRecord, encryptRecord } from './blob.ts';
import type { RecordContext } from './context.ts';
import { DecryptionError } from './errors.ts';
import { parseMasterKeys } from './keyring.ts';
import { createLocalKms } from './kms.ts';

/**
 * Security tests 4 and 7 with a spy on node:crypto's createDecipheriv (the real function underneath):
 * every decipher is created with authTagLength 16, and none is created for a blob whose key commitment
 * does not match. Kept in its own file so the mock does not reach other suites.
 */
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, createDecipheriv: vi.fn(actual.createDecipheriv) };
});

const decipherCalls = () => vi.mocked(createDecipheriv).mock.calls;

const context: RecordContext = sampleContext;
const dek = randomBytes(32);
const keys: DataKeySet = { get: (version) => (version === 1 ? dek : undefined), minVersion: 1 };
const plaintext = Buffer.from('sk-spy-target');

function attempt(operation: () => unknown): unknown {
  try {
    return operation();
  } catch (error) {
    return error;
  }
}

beforeEach(() => {
  vi.mocked(createDecipheriv).mockClear();
});

describe('createDecipheriv is always given authTagLength: 16', () => {
  it('by decryptRecord', () => {
    const blob = encryptRecord({ version: 1, key: dek }, plaintext, context);
    expect(decryptRecord(blob, keys, context)).toEqual(plaintext);
    expect(decipherCalls()).toHaveLength(1);
    const [algorithm, , iv, options] = decipherCalls()[0] ?? [];
    expect(algorithm).toBe('aes-256-gcm');
    expect(iv).toHaveLength(12);
    expect(options).toEqual({ authTagLength: 16 });
  });

  it('by aesGcmDecrypt for every key size', () => {
    for (const length of [16, 24, 32]) {
      const key = randomBytes(length);
      const iv = randomBytes(12);
      const { ciphertext, tag } = aesGcmEncrypt(key, iv, plaintext, Buffer.alloc(0));
      aesGcmDecrypt(key, iv, ciphertext, tag, Buffer.alloc(0));
    }
    expect(decipherCalls().map((call) => call[3])).toEqual([
      { authTagLength: 16 },
      { authTagLength: 16 },
      { authTagLength: 16 },
    ]);
  });

  it('by the local KMS unwrap', async () => {
    const kms = createLocalKms(parseMasterKeys(`v1:${randomBytes(32).toString('base64')}`));
    const dataKeyContext = { tenant: 'default', userId: 'usr_alice', dekVersion: 1 };
    const wrapped = await kms.wrap(dek, dataKeyContext);
    expect(await kms.unwrap(wrapped, dataKeyContext)).toEqual(dek);
    expect(decipherCalls().map((call) => call[3])).toEqual([{ authTagLength: 16 }]);
  });

  it('a short tag is refused before any decipher exists', () => {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const { ciphertext, tag } = aesGcmEncrypt(key, iv, plaintext, Buffer.alloc(0));
    for (const length of [4, 8, 12, 15]) {
      expect(
        attempt(() => aesGcmDecrypt(key, iv, ciphertext, tag.subarray(0, length), Buffer.alloc(0))),
      ).toBeInstanceOf(DecryptionError);
    }
    expect(decipherCalls()).toHaveLength(0);
  });
});

describe('the key commitment is checked before GCM runs (security test 7)', () => {
  const blob = encryptRecord({ version: 1, key: dek }, plaintext, context);

  it("decrypting with another user's data key fails without creating a decipher", () => {
    const otherKeys: DataKeySet = {
      get: (version) => (version === 1 ? randomBytes(32) : undefined),
      minVersion: 1,
    };
    const failure = attempt(() => decryptRecord(blob, otherKeys, context));
    expect(failure).toBeInstanceOf(DecryptionError);
    expect((failure as DecryptionError).failure).toBe('authentication_failed');
    expect(decipherCalls()).toHaveLength(0);
  });

  it('a changed salt or commitment fails without creating a decipher', () => {
    for (const offset of [6, 37, 38, 69]) {
      const tampered = Buffer.from(blob);
      tampered[offset] = (tampered[offset] ?? 0) ^ 1;
      expect(
        attempt(() => decryptRecord(tampered, keys, context)),
        `byte ${offset}`,
      ).toBeInstanceOf(DecryptionError);
    }
    expect(decipherCalls()).toHaveLength(0);
  });

  it('malformed, unsupported, missing-version and too-old blobs never reach a decipher', () => {
    const unsupported = Buffer.from(blob);
    unsupported[0] = 2;
    const missing = Buffer.from(blob);
    missing.writeUInt32BE(9, 2);
    for (const bad of [blob.subarray(0, 97), unsupported, missing]) {
      expect(attempt(() => decryptRecord(bad, keys, context))).toBeInstanceOf(DecryptionError);
    }
    expect(attempt(() => decryptRecord(blob, { ...keys, minVersion: 2 }, context))).toBeInstanceOf(
      DecryptionError,
    );
    expect(decipherCalls()).toHaveLength(0);
  });

  it('a tampered ciphertext passes the commitment and is refused by GCM (the spy sees it)', () => {
    const tampered = Buffer.from(blob);
    tampered[90] = (tampered[90] ?? 0) ^ 1;
    expect(attempt(() => decryptRecord(tampered, keys, context))).toBeInstanceOf(DecryptionError);
    expect(decipherCalls()).toHaveLength(1);
  });
});
