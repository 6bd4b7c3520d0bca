import { randomBytes } from 'node:crypto';
import { aesGcmDecrypt, aesGcmEncrypt, IV_LENGTH, TAG_LENGTH } from './aead.ts';
import { DATA_KEY_LENGTH } from './blob.ts';
import { type DataKeyContext, encodeDataKeyContext } from './context.ts';
import { DecryptionError, KeyVersionMissingError } from './errors.ts';
import type { Keyring } from './keyring.ts';

/**
 * Wraps and unwraps data keys. The local implementation uses the keyring; an external KMS can take its
 * place behind the same interface. Wrapped form (local): iv(12) | ciphertext(32) | tag(16), with the
 * tenant, user id, DEK version and KEK version bound as AAD.
 */
export interface WrappedDataKey {
  kekVersion: number;
  wrapped: Buffer;
}

export interface Kms {
  /** The key version new wraps use. */
  activeVersion(): number;
  /** Versions this KMS can unwrap with. */
  versions(): readonly number[];
  wrap(dataKey: Buffer, context: DataKeyContext): Promise<WrappedDataKey>;
  /** Returns a fresh buffer the caller owns (and zeroes). */
  unwrap(wrapped: WrappedDataKey, context: DataKeyContext): Promise<Buffer>;
}

const WRAPPED_LENGTH = IV_LENGTH + DATA_KEY_LENGTH + TAG_LENGTH;

export function createLocalKms(keyring: Keyring): Kms {
  return {
    activeVersion: () => keyring.activeVersion,
    versions: () => keyring.versions,
    async wrap(dataKey, context) {
      // unwrap() accepts exactly WRAPPED_LENGTH bytes: any other key length would wrap into a dead blob.
      if (dataKey.length !== DATA_KEY_LENGTH) throw new RangeError('data keys must be 32 bytes');
      const kekVersion = keyring.activeVersion;
      const kek = keyring.key(kekVersion);
      if (!kek) throw new KeyVersionMissingError();
      const iv = randomBytes(IV_LENGTH);
      const { ciphertext, tag } = aesGcmEncrypt(kek, iv, dataKey, encodeDataKeyContext(context, kekVersion));
      return { kekVersion, wrapped: Buffer.concat([iv, ciphertext, tag]) };
    },
    async unwrap({ kekVersion, wrapped }, context) {
      if (wrapped.length !== WRAPPED_LENGTH) throw new DecryptionError('malformed');
      const kek = keyring.key(kekVersion);
      if (!kek) throw new KeyVersionMissingError();
      return aesGcmDecrypt(
        kek,
        wrapped.subarray(0, IV_LENGTH),
        wrapped.subarray(IV_LENGTH, WRAPPED_LENGTH - TAG_LENGTH),
        wrapped.subarray(WRAPPED_LENGTH - TAG_LENGTH),
        encodeDataKeyContext(context, kekVersion),
      );
    },
  };
}
