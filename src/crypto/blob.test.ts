import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sampleContext } from '../../test/support/crypto.ts';
import {
  BLOB_FORMAT_V1,
  type DataKeySet,
  decryptRecord,
  encryptRecord,
  fingerprintSecret,
  HEADER_LENGTH,
  MAX_PLAINTEXT_LENGTH,
  readBlobHeader,
  SUITE_HKDF_SHA256_AES256GCM_COMMIT,
} from './blob.ts';
import { encodeRecordContext, type RecordContext } from './context.ts';
import {
  DecryptionError,
  KeyVersionMissingError,
  KeyVersionTooOldError,
  UnsupportedFormatError,
} from './errors.ts';

/** Security tests 1-6 and 9 on blob v1, plus fingerprintSecret and readBlobHeader. */

const FIXED_MESSAGES = new Set([
  'decryption failed: malformed ciphertext',
  'decryption failed: unsupported format',
  'decryption failed: key version not available',
  'decryption failed: key version below the minimum decryption version',
  'decryption failed: authentication failed',
]);

const context: RecordContext = sampleContext;

const dek = randomBytes(32);
const otherDek = randomBytes(32);
const canary = `sk-CANARY-${randomBytes(12).toString('hex')}`;

function keySet(keys: Record<number, Buffer>, minVersion = 1): DataKeySet {
  return { get: (version) => keys[version], minVersion };
}

const keys = keySet({ 1: dek });

function encrypt(plaintext: string | Uint8Array, version = 1, key = dek, recordContext = context): Buffer {
  const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  return encryptRecord({ version, key }, bytes, recordContext);
}

function attemptDecrypt(blob: Uint8Array, dataKeys: DataKeySet = keys, recordContext = context) {
  try {
    return { plaintext: decryptRecord(blob, dataKeys, recordContext), error: undefined };
  } catch (error) {
    return { plaintext: undefined, error };
  }
}

/** Hex, base64 and base64url of some bytes: the forms an error might leak them in. */
function encodings(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes);
  return [buffer.toString('hex'), buffer.toString('base64'), buffer.toString('base64url')];
}

/**
 * Decryption must fail with a DecryptionError whose fixed message carries no plaintext or blob bytes,
 * however the error is printed.
 */
function expectDecryptionFailure(
  blob: Uint8Array,
  label: string,
  { dataKeys = keys, recordContext = context, plaintext = canary } = {},
): DecryptionError {
  const { plaintext: released, error } = attemptDecrypt(blob, dataKeys, recordContext);
  expect(released, `${label}: plaintext released`).toBeUndefined();
  expect(error, label).toBeInstanceOf(DecryptionError);
  const failure = error as DecryptionError;
  expect(FIXED_MESSAGES.has(failure.message), `${label}: unexpected message ${failure.message}`).toBe(true);
  expect(failure.cause, label).toBeUndefined();
  const printed = [
    failure.message,
    failure.stack ?? '',
    String(failure),
    inspect(failure),
    JSON.stringify(failure),
  ]
    .join('\n')
    .toLowerCase();
  const forbidden = [plaintext, ...encodings(Buffer.from(plaintext))];
  if (blob.length >= 16) {
    const view = Buffer.from(blob);
    forbidden.push(...encodings(view), ...encodings(view.subarray(-16)), ...encodings(view.subarray(6, 38)));
  }
  for (const form of forbidden) {
    if (form.length >= 8)
      expect(printed.includes(form.toLowerCase()), `${label}: error shows ${form}`).toBe(false);
  }
  return failure;
}

describe('round trip', () => {
  const id = fc.string({ unit: 'binary', maxLength: 40 });
  const arbitraryContext = fc.record({ tenant: id, userId: id, credentialId: id, provider: id, field: id });
  const unicodeText = fc.string({ unit: 'binary', maxLength: 2048 });
  const textWithNul = fc
    .array(fc.oneof(fc.constant('\0'), fc.string({ unit: 'grapheme', maxLength: 8 })), { maxLength: 200 })
    .map((parts) => parts.join(''));
  const plaintext = fc.oneof(
    fc.uint8Array({ maxLength: 8192 }),
    fc
      .oneof(unicodeText, textWithNul)
      .map((text) => Buffer.from(text, 'utf8'))
      .filter((bytes) => bytes.length <= 8192),
  );

  it('decryptRecord(encryptRecord(x)) === x for 0..8192-byte plaintexts and random contexts', () => {
    fc.assert(
      fc.property(
        plaintext,
        arbitraryContext,
        fc.integer({ min: 1, max: 0xffffffff }),
        (bytes, randomContext, version) => {
          expect(bytes.length).toBeLessThanOrEqual(8192);
          const blob = encryptRecord({ version, key: dek }, bytes, randomContext);
          expect(blob).toHaveLength(HEADER_LENGTH + bytes.length + 16);
          expect(readBlobHeader(blob).dekVersion).toBe(version);
          const decrypted = decryptRecord(blob, keySet({ [version]: dek }), randomContext);
          expect(Buffer.from(decrypted).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('returns Unicode text (astral, combining, NUL) byte for byte', () => {
    const text = 'key\0with NUL, émoji 🔑, 日本語, e\u0301, \u{10ffff}';
    expect(decryptRecord(encrypt(text), keys, context).toString('utf8')).toBe(text);
  });

  it('accepts the blob as a plain Uint8Array that is a view at an offset of a larger buffer', () => {
    const blob = encrypt(canary);
    const backing = new Uint8Array(blob.length + 37);
    backing.set(blob, 19);
    const view = backing.subarray(19, 19 + blob.length);
    expect(decryptRecord(view, keys, context).toString()).toBe(canary);
  });

  it('returns a fresh buffer: zeroing the plaintext leaves the stored blob intact', () => {
    const blob = encrypt(canary);
    const copy = Buffer.from(blob);
    decryptRecord(blob, keys, context).fill(0);
    expect(blob.equals(copy)).toBe(true);
    expect(decryptRecord(blob, keys, context).toString()).toBe(canary);
  });

  it('handles the 64 KiB maximum and refuses anything larger', () => {
    const largest = randomBytes(MAX_PLAINTEXT_LENGTH);
    expect(decryptRecord(encrypt(largest), keys, context).equals(largest)).toBe(true);
    expect(() => encrypt(randomBytes(MAX_PLAINTEXT_LENGTH + 1))).toThrow(RangeError);
  });

  it('refuses data keys that are not 32 bytes and versions outside 1..2^32-1', () => {
    for (const length of [0, 16, 31, 33, 64]) {
      expect(() => encrypt(canary, 1, randomBytes(length))).toThrow(RangeError);
    }
    for (const version of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => encrypt(canary, version)).toThrow(RangeError);
    }
  });
});

describe('bit flips (security test 2)', () => {
  it('fails on every byte of a stored blob flipped, with auth failures past the version field', () => {
    const blob = encrypt(canary);
    for (let offset = 0; offset < blob.length; offset += 1) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const tampered = Buffer.from(blob);
        tampered[offset] = (tampered[offset] ?? 0) ^ mask;
        const failure = expectDecryptionFailure(tampered, `byte ${offset} ^ ${mask}`);
        if (offset >= 6) expect(failure.failure, `byte ${offset}`).toBe('authentication_failed');
      }
    }
  });

  it('fails on every single bit of a short blob flipped', () => {
    const blob = encrypt('sk');
    expect(blob).toHaveLength(HEADER_LENGTH + 2 + 16);
    for (let bit = 0; bit < blob.length * 8; bit += 1) {
      const tampered = Buffer.from(blob);
      tampered[bit >> 3] = (tampered[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expectDecryptionFailure(tampered, `bit ${bit}`, { plaintext: 'sk' });
    }
  });
});

describe('truncation and extension (security test 3)', () => {
  it('fails on every prefix of length 0..len-1', () => {
    const blob = encrypt(canary);
    for (let length = 0; length < blob.length; length += 1) {
      expectDecryptionFailure(blob.subarray(0, length), `prefix ${length}`);
    }
  });

  it('fails with 1..32 extra bytes appended, random or zero', () => {
    const blob = encrypt(canary);
    for (let extra = 1; extra <= 32; extra += 1) {
      expectDecryptionFailure(Buffer.concat([blob, randomBytes(extra)]), `+${extra} random bytes`);
      expectDecryptionFailure(Buffer.concat([blob, Buffer.alloc(extra)]), `+${extra} zero bytes`);
    }
  });

  it('fails when bytes are cut from the middle (ciphertext shortened, tag kept)', () => {
    const blob = encrypt(canary);
    for (let cut = 1; cut <= canary.length; cut += 1) {
      const shortened = Buffer.concat([blob.subarray(0, HEADER_LENGTH), blob.subarray(HEADER_LENGTH + cut)]);
      expectDecryptionFailure(shortened, `ciphertext minus ${cut}`);
    }
  });
});

describe('short tag (security test 4)', () => {
  it.each([4, 8, 12, 15])('fails when the tag is replaced by its first %i bytes', (length) => {
    for (const plaintext of [canary, 'x'.repeat(64), '']) {
      const blob = encrypt(plaintext);
      const shortened = Buffer.concat([blob.subarray(0, blob.length - 16), blob.subarray(-16, -16 + length)]);
      expect(shortened).toHaveLength(blob.length - 16 + length);
      expectDecryptionFailure(shortened, `${length}-byte tag, ${plaintext.length}-byte plaintext`, {
        plaintext,
      });
    }
  });
});

describe('header tampering (security test 5)', () => {
  it.each([0x00, 0x02, 0x7f, 0xff])('format byte %i gives UnsupportedFormatError', (value) => {
    const blob = encrypt(canary);
    blob[0] = value;
    expect(expectDecryptionFailure(blob, 'format')).toBeInstanceOf(UnsupportedFormatError);
  });

  it.each([0x00, 0x02, 0x7f, 0xff])('suite byte %i gives UnsupportedFormatError', (value) => {
    const blob = encrypt(canary);
    blob[1] = value;
    expect(expectDecryptionFailure(blob, 'suite')).toBeInstanceOf(UnsupportedFormatError);
  });

  it.each([2, 9, 0x100_0001, 0xffffffff])(
    'dek_version changed to absent v%i gives KeyVersionMissingError',
    (version) => {
      const blob = encrypt(canary);
      blob.writeUInt32BE(version, 2);
      const failure = expectDecryptionFailure(blob, 'version', { dataKeys: keySet({ 1: dek, 3: otherDek }) });
      expect(failure).toBeInstanceOf(KeyVersionMissingError);
    },
  );

  it('dek_version changed to another existing version fails authentication', () => {
    const blob = encrypt(canary, 1);
    blob.writeUInt32BE(2, 2);
    const failure = expectDecryptionFailure(blob, 'v1 -> v2', { dataKeys: keySet({ 1: dek, 2: otherDek }) });
    expect(failure.failure).toBe('authentication_failed');
  });

  it('dek_version changed to another version holding the same key bytes still fails (header is in the AAD)', () => {
    // The commitment depends only on the key and salt, so here only the AAD can catch the change.
    const blob = encrypt(canary, 1);
    blob.writeUInt32BE(2, 2);
    const failure = expectDecryptionFailure(blob, 'v1 -> v2, same key', {
      dataKeys: keySet({ 1: dek, 2: dek }),
    });
    expect(failure.failure).toBe('authentication_failed');
  });

  it('a blob below the minimum decryption version gives KeyVersionTooOldError even when the key exists', () => {
    const v1 = encrypt(canary, 1);
    const v2 = encrypt(canary, 2, otherDek);
    const both = { 1: dek, 2: otherDek };
    expect(expectDecryptionFailure(v1, 'v1, min 2', { dataKeys: keySet(both, 2) })).toBeInstanceOf(
      KeyVersionTooOldError,
    );
    expect(decryptRecord(v2, keySet(both, 2), context).toString()).toBe(canary);
    expect(decryptRecord(v1, keySet(both, 1), context).toString()).toBe(canary);
  });
});

describe('context swap (security test 6)', () => {
  // The same data key throughout: only the AAD can tell the rows apart, so a missing field is caught.
  const swaps: [string, Partial<RecordContext>][] = [
    ['another user', { userId: 'usr_bob' }],
    ['another credential of the same user', { credentialId: 'cred_0002' }],
    ['another provider', { provider: 'anthropic' }],
    ['another field', { field: 'organization' }],
    ['another tenant', { tenant: 'acme' }],
    ['empty user id', { userId: '' }],
    ['user id with a trailing NUL', { userId: 'usr_alice\0' }],
    ['user id differing only in case', { userId: 'USR_alice' }],
    ['bytes moved between user and credential id', { userId: 'usr_alicecred', credentialId: '_0001' }],
    ['provider and field swapped', { provider: 'secret', field: 'openai' }],
  ];

  it.each(swaps)('fails when decrypted for %s', (name, change) => {
    const blob = encrypt(canary);
    const failure = expectDecryptionFailure(blob, name, { recordContext: { ...context, ...change } });
    expect(failure.failure).toBe('authentication_failed');
    expect(decryptRecord(blob, keys, context).toString()).toBe(canary);
  });

  it('fails for any other context (property)', () => {
    const id = fc.string({ unit: 'binary', maxLength: 12 });
    const arbitraryContext = fc.record({ tenant: id, userId: id, credentialId: id, provider: id, field: id });
    fc.assert(
      fc.property(arbitraryContext, arbitraryContext, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        const blob = encrypt(canary, 1, dek, a);
        expect(attemptDecrypt(blob, keys, b).error).toBeInstanceOf(DecryptionError);
        expect(decryptRecord(blob, keys, a).toString()).toBe(canary);
      }),
      { numRuns: 100 },
    );
  });

  it("fails under another user's data key", () => {
    const blob = encrypt(canary);
    const failure = expectDecryptionFailure(blob, 'other DEK', { dataKeys: keySet({ 1: otherDek }) });
    expect(failure.failure).toBe('authentication_failed');
  });
});

describe('layout: 12-byte IV at a fixed offset (security test 9)', () => {
  const encryptionInfo = Buffer.from('keyhaven/v1/record-encryption-key');
  const commitmentInfo = Buffer.from('keyhaven/v1/record-key-commitment');
  const derive = (key: Buffer, salt: Uint8Array, info: Buffer) =>
    Buffer.from(hkdfSync('sha256', key, salt, info, 32));

  it('every blob is format | suite | version | salt(32) | commitment(32) | iv(12) at 70..82 | ct | tag(16)', () => {
    expect(HEADER_LENGTH).toBe(82);
    for (const plaintext of ['', 'a', canary, 'z'.repeat(1000)]) {
      const blob = encrypt(plaintext, 7);
      expect(blob).toHaveLength(82 + Buffer.byteLength(plaintext) + 16);
      expect(blob[0]).toBe(BLOB_FORMAT_V1);
      expect(blob[1]).toBe(SUITE_HKDF_SHA256_AES256GCM_COMMIT);
      expect(blob.readUInt32BE(2)).toBe(7);
      const salt = blob.subarray(6, 38);
      expect(blob.subarray(38, 70)).toEqual(derive(dek, salt, commitmentInfo));
      // Decrypt independently, from the documented layout alone.
      const decipher = createDecipheriv(
        'aes-256-gcm',
        derive(dek, salt, encryptionInfo),
        blob.subarray(70, 82),
        {
          authTagLength: 16,
        },
      );
      decipher.setAAD(Buffer.concat([blob.subarray(0, 82), encodeRecordContext(context)]));
      decipher.setAuthTag(blob.subarray(-16));
      const decrypted = Buffer.concat([decipher.update(blob.subarray(82, -16)), decipher.final()]);
      expect(decrypted.toString()).toBe(plaintext);
    }
  });

  it('still decrypts a blob written by this version (stored data stays readable)', () => {
    const regressionKey = Buffer.from(
      '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
      'hex',
    );
    const stored = Buffer.from(
      '01010000000309e57723e5211398d300e7add5e96edcedd4488faa944ff37fbdc17a7c30f9dbf5233a6523da90799f132f218d7252' +
        '38dcf613b99018eb9b741584183b1317d7becda8040d23b18ce7a1e46ea77799441ccc75e1af2b0ba6837254c10f32fde1b5eb14' +
        'f50897472fe875fc66980c2cefacd0324781',
      'hex',
    );
    const storedContext = {
      tenant: 'default',
      userId: 'usr_regression',
      credentialId: 'cred_regression',
      provider: 'openai',
      field: 'secret',
    };
    expect(decryptRecord(stored, keySet({ 3: regressionKey }), storedContext).toString()).toBe(
      'sk-regression-vector-0001',
    );
  });

  it('rejects, without decrypting, a crafted blob laid out with a 16-byte IV', () => {
    const plaintext = Buffer.from(canary);
    const salt = randomBytes(32);
    const iv = randomBytes(16);
    const header = Buffer.concat([
      Buffer.from([BLOB_FORMAT_V1, SUITE_HKDF_SHA256_AES256GCM_COMMIT, 0, 0, 0, 1]),
      salt,
      derive(dek, salt, commitmentInfo),
      iv,
    ]);
    const key = derive(dek, salt, encryptionInfo);
    const aad = Buffer.concat([header, encodeRecordContext(context)]);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad);
    const crafted = Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);

    // The crafted blob is genuine under a 16-byte-IV reading of the layout...
    const decipher = createDecipheriv('aes-256-gcm', key, crafted.subarray(70, 86), { authTagLength: 16 });
    decipher.setAAD(aad);
    decipher.setAuthTag(crafted.subarray(-16));
    expect(Buffer.concat([decipher.update(crafted.subarray(86, -16)), decipher.final()])).toEqual(plaintext);
    // ...and decryptRecord refuses it.
    expect(expectDecryptionFailure(crafted, '16-byte IV').failure).toBe('authentication_failed');
  });
});

describe('fingerprintSecret', () => {
  const material = Buffer.from(canary);

  it('is stable for the same data key and material, formatted fp_ + 32 hex characters', () => {
    const fingerprint = fingerprintSecret(dek, material);
    expect(fingerprint).toMatch(/^fp_[0-9a-f]{32}$/);
    expect(fingerprintSecret(Buffer.from(dek), Buffer.from(canary))).toBe(fingerprint);
  });

  it('differs across data keys and across material', () => {
    const fingerprint = fingerprintSecret(dek, material);
    expect(fingerprintSecret(otherDek, material)).not.toBe(fingerprint);
    expect(fingerprintSecret(dek, Buffer.from(`${canary}x`))).not.toBe(fingerprint);
    expect(fingerprintSecret(dek, Buffer.alloc(0))).not.toBe(fingerprint);
  });

  it('is not a plain hash of the material and does not contain it', () => {
    const fingerprint = fingerprintSecret(dek, material);
    const sha256 = createHash('sha256').update(material).digest('hex');
    expect(fingerprint).not.toContain(sha256.slice(0, 32));
    expect(sha256).not.toContain(fingerprint.slice(3));
    for (const form of [canary, ...encodings(material)]) expect(fingerprint).not.toContain(form);
  });

  it('refuses a data key that is not 32 bytes', () => {
    expect(() => fingerprintSecret(randomBytes(16), material)).toThrow(RangeError);
  });
});

describe('readBlobHeader', () => {
  it('reads format, suite and version from a genuine blob', () => {
    expect(readBlobHeader(encrypt(canary, 0xfffffffe))).toEqual({
      format: BLOB_FORMAT_V1,
      suite: SUITE_HKDF_SHA256_AES256GCM_COMMIT,
      dekVersion: 0xfffffffe,
    });
  });

  it('refuses blobs shorter than header + tag or longer than the maximum', () => {
    const minimum = HEADER_LENGTH + 16;
    expect(() => readBlobHeader(Buffer.alloc(minimum - 1, 1))).toThrow(DecryptionError);
    expect(() => readBlobHeader(Buffer.alloc(minimum, 1))).not.toThrow();
    expect(() => readBlobHeader(Buffer.alloc(minimum + MAX_PLAINTEXT_LENGTH, 1))).not.toThrow();
    expect(() => readBlobHeader(Buffer.alloc(minimum + MAX_PLAINTEXT_LENGTH + 1, 1))).toThrow(
      DecryptionError,
    );
  });
});
