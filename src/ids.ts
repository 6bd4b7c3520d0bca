import { randomBytes } from 'node:crypto';

/** Typed, prefixed ids (`cred_…`, `vid_…`): 96 random bits, hex. */
export type IdPrefix = 'cred' | 'usr' | 'vid' | 'whk' | 'khu' | 'job';

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * `bytes` random bytes as hex, cut from a pool the CSPRNG refills 4 KiB at a time: one call into it per
 * few hundred ids instead of one per id (request ids are made on every call). For identifiers only;
 * secrets come from randomBytes directly, so that no copy of them stays in a shared buffer.
 */
export function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const text = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return text;
}

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomHex(12)}`;
}
