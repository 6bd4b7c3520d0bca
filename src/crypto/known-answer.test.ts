import { hkdfSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aesGcmDecrypt, aesGcmEncrypt } from './aead.ts';
import { DecryptionError } from './errors.ts';

/**
 * Security test 10: Wycheproof known-answer vectors for AES-GCM (through our wrapper) and HKDF-SHA256
 * (node's hkdfSync, which blob.ts derives every record key with). The vectors live outside the
 * repository, in ../shared/vectors/wycheproof relative to the repository root; when they are absent the
 * suites are skipped and say so.
 */
const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const vectorsDirectory = resolve(repositoryRoot, '../shared/vectors/wycheproof');
const aesGcmPath = join(vectorsDirectory, 'aes_gcm_test.json');
const hkdfPath = join(vectorsDirectory, 'hkdf_sha256_test.json');

for (const path of [aesGcmPath, hkdfPath]) {
  if (!existsSync(path)) {
    console.warn(`Wycheproof vectors missing: ${path} does not exist; the known-answer tests are SKIPPED`);
  }
}

interface AeadVector {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

interface AeadGroup {
  keySize: number;
  ivSize: number;
  tagSize: number;
  tests: AeadVector[];
}

interface HkdfVector {
  tcId: number;
  comment: string;
  flags: string[];
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

function readVectors<Group>(path: string): { algorithm: string; testGroups: Group[] } {
  return JSON.parse(readFileSync(path, 'utf8')) as { algorithm: string; testGroups: Group[] };
}

const hex = (text: string) => Buffer.from(text, 'hex');

function attempt<T>(operation: () => T): { value?: T; error?: unknown } {
  try {
    return { value: operation() };
  } catch (error) {
    return { error };
  }
}

describe.skipIf(!existsSync(aesGcmPath))('Wycheproof AES-GCM through aesGcmEncrypt/aesGcmDecrypt', () => {
  const file = existsSync(aesGcmPath)
    ? readVectors<AeadGroup>(aesGcmPath)
    : { algorithm: '', testGroups: [] };
  const groups = file.testGroups;
  const supported = groups.filter((group) => group.ivSize === 96 && group.tagSize === 128);
  const otherIv = groups.filter((group) => group.ivSize !== 96);

  it('has 96-bit-IV, 128-bit-tag vectors for 128, 192 and 256-bit keys, and vectors with other IVs', () => {
    expect(file.algorithm).toBe('AES-GCM');
    expect(new Set(supported.map((group) => group.keySize))).toEqual(new Set([128, 192, 256]));
    expect(supported.flatMap((group) => group.tests).length).toBeGreaterThan(150);
    expect(otherIv.flatMap((group) => group.tests).length).toBeGreaterThan(50);
  });

  it.each([128, 192, 256])('%i-bit keys: valid vectors decrypt to msg and encrypt to ct||tag', (keySize) => {
    const vectors = supported
      .filter((group) => group.keySize === keySize)
      .flatMap((group) => group.tests.filter((test) => test.result === 'valid'));
    expect(vectors.length).toBeGreaterThan(0);
    for (const vector of vectors) {
      const label = `tcId ${vector.tcId} (${vector.comment})`;
      const plaintext = aesGcmDecrypt(
        hex(vector.key),
        hex(vector.iv),
        hex(vector.ct),
        hex(vector.tag),
        hex(vector.aad),
      );
      expect(plaintext.toString('hex'), label).toBe(vector.msg);
      const { ciphertext, tag } = aesGcmEncrypt(
        hex(vector.key),
        hex(vector.iv),
        hex(vector.msg),
        hex(vector.aad),
      );
      expect(Buffer.concat([ciphertext, tag]).toString('hex'), label).toBe(vector.ct + vector.tag);
    }
  });

  it.each([128, 192, 256])('%i-bit keys: invalid vectors throw DecryptionError', (keySize) => {
    const vectors = supported
      .filter((group) => group.keySize === keySize)
      .flatMap((group) => group.tests.filter((test) => test.result !== 'valid'));
    expect(vectors.length).toBeGreaterThan(0);
    for (const vector of vectors) {
      const outcome = attempt(() =>
        aesGcmDecrypt(hex(vector.key), hex(vector.iv), hex(vector.ct), hex(vector.tag), hex(vector.aad)),
      );
      expect(outcome.value, `tcId ${vector.tcId} (${vector.flags.join(',')}) decrypted`).toBeUndefined();
      expect(outcome.error, `tcId ${vector.tcId}`).toBeInstanceOf(DecryptionError);
    }
  });

  it('refuses every vector whose IV is not 96 bits, valid or not, on decrypt and on encrypt', () => {
    const vectors = otherIv.flatMap((group) => group.tests);
    for (const vector of vectors) {
      const label = `tcId ${vector.tcId} (${vector.iv.length * 4}-bit IV, ${vector.result})`;
      const decrypted = attempt(() =>
        aesGcmDecrypt(hex(vector.key), hex(vector.iv), hex(vector.ct), hex(vector.tag), hex(vector.aad)),
      );
      expect(decrypted.value, label).toBeUndefined();
      expect(decrypted.error, label).toBeInstanceOf(DecryptionError);
      const encrypted = attempt(() =>
        aesGcmEncrypt(hex(vector.key), hex(vector.iv), hex(vector.msg), hex(vector.aad)),
      );
      expect(encrypted.value, label).toBeUndefined();
      expect(encrypted.error, label).toBeInstanceOf(RangeError);
    }
  });
});

describe.skipIf(!existsSync(hkdfPath))('Wycheproof HKDF-SHA256 against hkdfSync', () => {
  const file = existsSync(hkdfPath)
    ? readVectors<{ tests: HkdfVector[] }>(hkdfPath)
    : { algorithm: '', testGroups: [] };
  const vectors = file.testGroups.flatMap((group) => group.tests);

  it('valid vectors reproduce okm', () => {
    expect(file.algorithm).toBe('HKDF-SHA-256');
    const valid = vectors.filter((vector) => vector.result === 'valid');
    expect(valid.length).toBeGreaterThan(50);
    for (const vector of valid) {
      const okm = hkdfSync('sha256', hex(vector.ikm), hex(vector.salt), hex(vector.info), vector.size);
      expect(Buffer.from(okm).toString('hex'), `tcId ${vector.tcId} (${vector.comment})`).toBe(vector.okm);
    }
  });

  it('invalid vectors (output longer than 255 * 32 bytes) throw', () => {
    const invalid = vectors.filter((vector) => vector.result !== 'valid');
    expect(invalid.length).toBeGreaterThan(0);
    for (const vector of invalid) {
      const outcome = attempt(() =>
        hkdfSync('sha256', hex(vector.ikm), hex(vector.salt), hex(vector.info), vector.size),
      );
      expect(outcome.value, `tcId ${vector.tcId} (${vector.flags.join(',')})`).toBeUndefined();
      expect(outcome.error, `tcId ${vector.tcId}`).toBeInstanceOf(Error);
    }
  });
});
