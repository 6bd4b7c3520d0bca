import { randomBytes } from 'node:crypto';

/** Typed, prefixed ids (`cred_…`, `vid_…`): 96 random bits, hex. */
export type IdPrefix = 'cred' | 'usr' | 'vid' | 'whk' | 'khu' | 'job';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}
