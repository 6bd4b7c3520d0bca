export { aesGcmDecrypt, aesGcmEncrypt, IV_LENGTH, TAG_LENGTH } from './aead.ts';
export {
  BLOB_FORMAT_V1,
  type BlobHeader,
  DATA_KEY_LENGTH,
  type DataKey,
  type DataKeySet,
  decryptRecord,
  decryptWithRecordKey,
  deriveAuditChainKey,
  encryptRecord,
  fingerprintSecret,
  HEADER_LENGTH,
  MAX_PLAINTEXT_LENGTH,
  openRecordKey,
  readBlobHeader,
  SUITE_HKDF_SHA256_AES256GCM_COMMIT,
} from './blob.ts';
export { type BoundedCache, type BoundedCacheOptions, copyKey, createBoundedCache } from './bounded-cache.ts';
export {
  type DataKeyContext,
  encodeDataKeyContext,
  encodeRecordContext,
  type RecordContext,
} from './context.ts';
export { createDekCache, type DekCache, type DekCacheOptions } from './dek-cache.ts';
export {
  DecryptionError,
  type DecryptionFailure,
  KeyringConfigError,
  KeyVersionMissingError,
  KeyVersionTooOldError,
  UnsupportedFormatError,
} from './errors.ts';
export {
  createKeyring,
  generateMasterKey,
  KEY_FILE_NAME,
  type Keyring,
  type KeyringSource,
  loadKeyring,
  MASTER_KEY_LENGTH,
  parseEncryptionKey,
  parseMasterKeys,
} from './keyring.ts';
export { createLocalKms, type Kms, type WrappedDataKey } from './kms.ts';
export { redactSecrets } from './redact.ts';
export { REDACTED, SecretValue } from './secret-value.ts';
