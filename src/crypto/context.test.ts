import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeDataKeyContext, encodeParts, encodeRecordContext, type RecordContext } from './context.ts';

/** The AAD contexts: canonical, and no two distinct contexts share an encoding. */

const part = fc.string({ unit: 'binary', maxLength: 12 });
const recordContext = fc.record({
  tenant: part,
  userId: part,
  credentialId: part,
  provider: part,
  field: part,
});

describe('encodeParts', () => {
  it('is label then parts, each a u32 big-endian byte length and its UTF-8 bytes', () => {
    expect(encodeParts('L', ['ab', '', 'é']).toString('hex')).toBe(
      ['00000001', '4c', '00000002', '6162', '00000000', '00000002', 'c3a9'].join(''),
    );
  });

  it('is injective: distinct part lists encode differently (property)', () => {
    fc.assert(
      fc.property(fc.array(part, { maxLength: 5 }), fc.array(part, { maxLength: 5 }), (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(encodeParts('label', a).equals(encodeParts('label', b))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('encodeRecordContext', () => {
  const base: RecordContext = {
    tenant: 'default',
    userId: 'usr_a',
    credentialId: 'cred_b',
    provider: 'openai',
    field: 'secret',
  };

  it('differs when bytes move across a field boundary or fields swap', () => {
    const encoded = encodeRecordContext(base);
    for (const change of [
      { userId: 'usr_ac', credentialId: 'red_b' },
      { userId: 'usr_', credentialId: 'acred_b' },
      { provider: 'secret', field: 'openai' },
      { tenant: 'default\0' },
    ]) {
      expect(encodeRecordContext({ ...base, ...change }).equals(encoded)).toBe(false);
    }
  });

  it('is injective over all five fields (property)', () => {
    fc.assert(
      fc.property(recordContext, recordContext, (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b));
        expect(encodeRecordContext(a).equals(encodeRecordContext(b))).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('encodeDataKeyContext', () => {
  it('binds tenant, user id, data key version and master key version', () => {
    const encoded = encodeDataKeyContext({ tenant: 't', userId: 'usr_a', dekVersion: 1 }, 2);
    expect(encodeDataKeyContext({ tenant: 'u', userId: 'usr_a', dekVersion: 1 }, 2).equals(encoded)).toBe(
      false,
    );
    expect(encodeDataKeyContext({ tenant: 't', userId: 'usr_b', dekVersion: 1 }, 2).equals(encoded)).toBe(
      false,
    );
    expect(encodeDataKeyContext({ tenant: 't', userId: 'usr_a', dekVersion: 12 }, 2).equals(encoded)).toBe(
      false,
    );
    expect(encodeDataKeyContext({ tenant: 't', userId: 'usr_a', dekVersion: 1 }, 3).equals(encoded)).toBe(
      false,
    );
    expect(encodeDataKeyContext({ tenant: 't', userId: 'usr_a', dekVersion: 1 }, 2).equals(encoded)).toBe(
      true,
    );
  });
});
