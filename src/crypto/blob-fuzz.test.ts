import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sampleContext } from '../../test/support/crypto.ts';
import {
  type DataKeySet,
  decryptRecord,
  decryptWithRecordKey,
  encryptRecord,
  HEADER_LENGTH,
  openRecordKey,
  readBlobHeader,
} from './blob.ts';
import type { RecordContext } from './context.ts';
import { DecryptionError } from './errors.ts';

/**
 * Security test 24: garbage into the blob decoder and decryption. The only acceptable outcome of
 * decrypting garbage is a DecryptionError (or a subclass); readBlobHeader may also return the fields of
 * an in-bounds input, but must read them from the right bytes.
 */

const context: RecordContext = sampleContext;
const dek = randomBytes(32);
const keys: DataKeySet = {
  get: (version) => (version === 1 || version === 2 ? dek : version === 3 ? randomBytes(32) : undefined),
  minVersion: 1,
};
const genuine = encryptRecord({ version: 1, key: dek }, Buffer.from('sk-fuzz-target'), context);
const MINIMUM = HEADER_LENGTH + 16;

function outcome(operation: () => unknown): unknown {
  try {
    return { returned: operation() };
  } catch (error) {
    return error;
  }
}

function expectOnlyDecryptionError(blob: Uint8Array) {
  const result = outcome(() => decryptRecord(blob, keys, context));
  expect(result).toBeInstanceOf(DecryptionError);
  const header = outcome(() => readBlobHeader(blob));
  if (blob.length < MINIMUM) {
    expect(header).toBeInstanceOf(DecryptionError);
  } else {
    const view = Buffer.from(blob);
    expect(header).toEqual({
      returned: { format: view[0], suite: view[1], dekVersion: view.readUInt32BE(2) },
    });
  }
}

const bytes = fc.uint8Array({ maxLength: 300 });

describe('garbage input', () => {
  it('random byte strings of 0..300 bytes', () => {
    fc.assert(fc.property(bytes, expectOnlyDecryptionError), { numRuns: 1000 });
  });

  it('random bytes behind a valid format, suite and (present, absent or wrong-key) version', () => {
    const prefix = fc
      .constantFrom(1, 2, 3, 4, 0, 0xffffffff)
      .map((version) =>
        Buffer.from([1, 1, version >>> 24, (version >>> 16) & 0xff, (version >>> 8) & 0xff, version & 0xff]),
      );
    fc.assert(
      fc.property(prefix, bytes, (head, tail) => expectOnlyDecryptionError(Buffer.concat([head, tail]))),
      { numRuns: 1000 },
    );
  });

  it('random bytes behind a genuine header, so that the commitment passes and GCM must refuse them', () => {
    const header = genuine.subarray(0, HEADER_LENGTH);
    fc.assert(
      fc.property(bytes, (tail) => {
        const blob = Buffer.concat([header, tail]);
        expectOnlyDecryptionError(blob);
        const failure = outcome(() => decryptRecord(blob, keys, context));
        expect((failure as DecryptionError).failure).toBe(
          tail.length < 16 ? 'malformed' : 'authentication_failed',
        );
      }),
      { numRuns: 500 },
    );
  });

  it('random base64 text, as stored text and decoded', () => {
    fc.assert(
      fc.property(fc.base64String({ maxLength: 400 }), (text) => {
        expectOnlyDecryptionError(Buffer.from(text, 'utf8'));
        expectOnlyDecryptionError(Buffer.from(text, 'base64'));
      }),
      { numRuns: 500 },
    );
    expectOnlyDecryptionError(Buffer.from(genuine.toString('base64')));
    expectOnlyDecryptionError(Buffer.from(genuine.toString('hex')));
  });

  it('decryptWithRecordKey with a genuine-length key refuses garbage', () => {
    const recordKey = randomBytes(32);
    fc.assert(
      fc.property(bytes, (blob) => {
        expect(outcome(() => decryptWithRecordKey(blob, recordKey, context))).toBeInstanceOf(DecryptionError);
      }),
      { numRuns: 500 },
    );
  });

  it('values that are not byte arrays (a driver returning text, null...) give DecryptionError', () => {
    const values: unknown[] = [
      genuine.toString('base64'),
      '',
      null,
      undefined,
      0,
      {},
      [...genuine],
      genuine.buffer.slice(genuine.byteOffset, genuine.byteOffset + genuine.length),
      { buffer: genuine.buffer, byteOffset: 0, byteLength: genuine.length, length: genuine.length },
    ];
    for (const value of values) {
      const blob = value as Uint8Array;
      const label = Object.prototype.toString.call(value);
      expect(
        outcome(() => readBlobHeader(blob)),
        label,
      ).toBeInstanceOf(DecryptionError);
      expect(
        outcome(() => decryptRecord(blob, keys, context)),
        label,
      ).toBeInstanceOf(DecryptionError);
      expect(
        outcome(() => openRecordKey(blob, keys)),
        label,
      ).toBeInstanceOf(DecryptionError);
      expect(
        outcome(() => decryptWithRecordKey(blob, randomBytes(32), context)),
        label,
      ).toBeInstanceOf(DecryptionError);
    }
  });

  it('a maximum-size garbage blob is refused quickly', () => {
    const blob = randomBytes(MINIMUM + 64 * 1024);
    blob.set(genuine.subarray(0, HEADER_LENGTH));
    const started = performance.now();
    expect(outcome(() => decryptRecord(blob, keys, context))).toBeInstanceOf(DecryptionError);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
