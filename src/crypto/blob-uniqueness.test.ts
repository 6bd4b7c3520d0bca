import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sampleContext } from '../../test/support/crypto.ts';
import { encryptRecord, HEADER_LENGTH } from './blob.ts';
import type { RecordContext } from './context.ts';

/** Security test 8: fresh salt and IV for every encryption, never repeated. */

const dek = { version: 1, key: randomBytes(32) };
const context: RecordContext = sampleContext;

const salt = (blob: Buffer) => blob.subarray(6, 38);
const iv = (blob: Buffer) => blob.subarray(70, 82);

describe('uniqueness', () => {
  it('encrypting the same plaintext twice gives different blobs, salts, commitments, IVs and ciphertexts', () => {
    const plaintext = Buffer.from('sk-same-plaintext');
    const first = encryptRecord(dek, plaintext, context);
    const second = encryptRecord(dek, plaintext, context);
    expect(first.equals(second)).toBe(false);
    expect(salt(first).equals(salt(second))).toBe(false);
    expect(first.subarray(38, 70).equals(second.subarray(38, 70))).toBe(false);
    expect(iv(first).equals(iv(second))).toBe(false);
    expect(first.subarray(HEADER_LENGTH).equals(second.subarray(HEADER_LENGTH))).toBe(false);
  });

  it('100,000 encryptions repeat no salt and no IV, each IV 12 bytes at offset 70', () => {
    const count = 100_000;
    const plaintext = Buffer.from('k');
    const salts = new Set<string>();
    const ivs = new Set<string>();
    let wrongLength = 0;
    const started = performance.now();
    for (let index = 0; index < count; index += 1) {
      const blob = encryptRecord(dek, plaintext, context);
      if (blob.length !== HEADER_LENGTH + 1 + 16) wrongLength += 1;
      salts.add(salt(blob).toString('latin1'));
      ivs.add(iv(blob).toString('latin1'));
    }
    const seconds = (performance.now() - started) / 1000;
    console.info(`uniqueness: ${count} encryptions in ${seconds.toFixed(1)} s`);
    expect(wrongLength).toBe(0);
    expect(salts.size).toBe(count);
    expect(ivs.size).toBe(count);
  }, 60_000);
});
