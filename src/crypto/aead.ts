import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DecryptionError } from './errors.ts';

/**
 * The AES-GCM primitive: 96-bit IVs and 128-bit tags only. Other IV lengths take GCM's GHASH path and
 * short tags are forgeable, so both are refused rather than passed to OpenSSL.
 */
export const IV_LENGTH = 12;
export const TAG_LENGTH = 16;

const KEY_LENGTHS = new Set([16, 24, 32]);

function cipherName(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  if (!KEY_LENGTHS.has(key.length)) throw new RangeError('AES-GCM key must be 16, 24 or 32 bytes');
  return `aes-${key.length * 8}-gcm` as 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm';
}

export interface Sealed {
  ciphertext: Buffer;
  tag: Buffer;
}

export function aesGcmEncrypt(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Sealed {
  if (iv.length !== IV_LENGTH) throw new RangeError('AES-GCM IV must be 12 bytes');
  const cipher = createCipheriv(cipherName(key), key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

/**
 * Decrypts and authenticates. Node's decipher.update() hands out plaintext before the tag is checked,
 * so the partial output is zeroed and discarded unless final() succeeds.
 */
export function aesGcmDecrypt(
  key: Uint8Array,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array,
): Buffer {
  if (iv.length !== IV_LENGTH || tag.length !== TAG_LENGTH) throw new DecryptionError('malformed');
  const decipher = createDecipheriv(cipherName(key), key, iv, { authTagLength: TAG_LENGTH });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const partial = decipher.update(ciphertext);
  try {
    const last = decipher.final();
    if (last.length === 0) return partial;
    const plaintext = Buffer.concat([partial, last]);
    partial.fill(0);
    last.fill(0);
    return plaintext;
  } catch {
    partial.fill(0);
    throw new DecryptionError('authentication_failed');
  }
}
