import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aesGcmDecrypt, aesGcmEncrypt, IV_LENGTH, TAG_LENGTH } from './aead.ts';
import { DecryptionError } from './errors.ts';

/** The AES-GCM primitive: only 96-bit IVs and 128-bit tags get through (security tests 4 and 9). */

const key = randomBytes(32);
const iv = randomBytes(IV_LENGTH);
const aad = Buffer.from('associated data');
const plaintext = Buffer.from('sk-live-0123456789abcdef');

function seal() {
  return aesGcmEncrypt(key, iv, plaintext, aad);
}

describe('aesGcmEncrypt / aesGcmDecrypt', () => {
  it('round trips with 128, 192 and 256-bit keys and binds the AAD', () => {
    for (const length of [16, 24, 32]) {
      const sizedKey = randomBytes(length);
      const { ciphertext, tag } = aesGcmEncrypt(sizedKey, iv, plaintext, aad);
      expect(tag).toHaveLength(TAG_LENGTH);
      expect(ciphertext).toHaveLength(plaintext.length);
      expect(ciphertext.equals(plaintext)).toBe(false);
      expect(aesGcmDecrypt(sizedKey, iv, ciphertext, tag, aad)).toEqual(plaintext);
      expect(() => aesGcmDecrypt(sizedKey, iv, ciphertext, tag, Buffer.from('other data'))).toThrow(
        DecryptionError,
      );
    }
  });

  it('produces what AES-256-GCM with a 12-byte IV produces (no hidden framing)', () => {
    const reference = createCipheriv('aes-256-gcm', key, iv);
    reference.setAAD(aad);
    const expected = Buffer.concat([reference.update(plaintext), reference.final(), reference.getAuthTag()]);
    const { ciphertext, tag } = seal();
    expect(Buffer.concat([ciphertext, tag])).toEqual(expected);
  });

  it('refuses keys that are not 16, 24 or 32 bytes', () => {
    for (const length of [0, 8, 15, 17, 31, 33, 64]) {
      expect(() => aesGcmEncrypt(Buffer.alloc(length, 1), iv, plaintext, aad)).toThrow(RangeError);
    }
  });

  it('refuses IVs other than 12 bytes, on encrypt and on decrypt (GHASH path, zero-length IV)', () => {
    const { ciphertext, tag } = seal();
    for (const length of [0, 1, 8, 11, 13, 16, 32, 64]) {
      const otherIv = randomBytes(length);
      expect(() => aesGcmEncrypt(key, otherIv, plaintext, aad), `encrypt, ${length}-byte IV`).toThrow(
        RangeError,
      );
      expect(() => aesGcmDecrypt(key, otherIv, ciphertext, tag, aad), `decrypt, ${length}-byte IV`).toThrow(
        DecryptionError,
      );
    }
    // A 16-byte IV whose first 12 bytes are the real IV must not be truncated into a valid one.
    const padded = Buffer.concat([iv, Buffer.alloc(4)]);
    expect(() => aesGcmDecrypt(key, padded, ciphertext, tag, aad)).toThrow(DecryptionError);
  });

  it('refuses tags other than 16 bytes, including a prefix of the real tag that Node would accept', () => {
    const { ciphertext, tag } = seal();
    for (const length of [0, 4, 8, 12, 13, 14, 15, 17, 32]) {
      const otherTag =
        length <= TAG_LENGTH ? tag.subarray(0, length) : Buffer.concat([tag, Buffer.alloc(length - 16)]);
      let result: Buffer | undefined;
      try {
        result = aesGcmDecrypt(key, iv, ciphertext, otherTag, aad);
      } catch (error) {
        expect(error, `${length}-byte tag`).toBeInstanceOf(DecryptionError);
      }
      expect(result, `${length}-byte tag released plaintext`).toBeUndefined();
    }
  });

  it('fails with DecryptionError, and a fixed message, on every flipped bit of ciphertext and tag', () => {
    const { ciphertext, tag } = seal();
    for (const [name, target] of [
      ['ciphertext', ciphertext],
      ['tag', tag],
    ] as const) {
      for (let bit = 0; bit < target.length * 8; bit += 1) {
        const copy = Buffer.from(target);
        copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        const [tamperedCiphertext, tamperedTag] = name === 'ciphertext' ? [copy, tag] : [ciphertext, copy];
        let caught: unknown;
        try {
          aesGcmDecrypt(key, iv, tamperedCiphertext, tamperedTag, aad);
        } catch (error) {
          caught = error;
        }
        expect(caught, `${name} bit ${bit}`).toBeInstanceOf(DecryptionError);
        expect((caught as Error).message).toBe('decryption failed: authentication failed');
      }
    }
  });

  it('fails under a wrong key or wrong IV', () => {
    const { ciphertext, tag } = seal();
    expect(() => aesGcmDecrypt(randomBytes(32), iv, ciphertext, tag, aad)).toThrow(DecryptionError);
    expect(() => aesGcmDecrypt(key, randomBytes(IV_LENGTH), ciphertext, tag, aad)).toThrow(DecryptionError);
  });

  it('handles empty plaintext and empty AAD', () => {
    const { ciphertext, tag } = aesGcmEncrypt(key, iv, Buffer.alloc(0), Buffer.alloc(0));
    expect(ciphertext).toHaveLength(0);
    expect(aesGcmDecrypt(key, iv, ciphertext, tag, Buffer.alloc(0))).toHaveLength(0);
    expect(() => aesGcmDecrypt(key, iv, ciphertext, tag, Buffer.from([0]))).toThrow(DecryptionError);
  });
});
