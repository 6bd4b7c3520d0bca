import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { aesGcmDecrypt, aesGcmEncrypt, IV_LENGTH, TAG_LENGTH } from './aead.ts';
import { encodeRecordContext, type RecordContext } from './context.ts';
import {
  DecryptionError,
  KeyVersionMissingError,
  KeyVersionTooOldError,
  UnsupportedFormatError,
} from './errors.ts';

/**
 * Blob v1: format(1) | suite(1) | dekVersion(4, BE) | salt(32) | commitment(32) | iv(12) | ciphertext | tag(16)
 *
 * suite 1 = per-record keys from HKDF-SHA256(DEK, salt), a 32-byte key commitment, AES-256-GCM.
 * AAD = the 82 header bytes (everything before the ciphertext) + the canonical record context.
 */
export const BLOB_FORMAT_V1 = 0x01;
export const SUITE_HKDF_SHA256_AES256GCM_COMMIT = 0x01;
export const SALT_LENGTH = 32;
export const COMMITMENT_LENGTH = 32;
export const DATA_KEY_LENGTH = 32;
export const HEADER_LENGTH = 1 + 1 + 4 + SALT_LENGTH + COMMITMENT_LENGTH + IV_LENGTH;
export const MAX_PLAINTEXT_LENGTH = 64 * 1024;
const MIN_BLOB_LENGTH = HEADER_LENGTH + TAG_LENGTH;
const MAX_BLOB_LENGTH = MIN_BLOB_LENGTH + MAX_PLAINTEXT_LENGTH;

const OFFSET_DEK_VERSION = 2;
const OFFSET_SALT = 6;
const OFFSET_COMMITMENT = OFFSET_SALT + SALT_LENGTH;
const OFFSET_IV = OFFSET_COMMITMENT + COMMITMENT_LENGTH;

const INFO_ENCRYPTION = Buffer.from('keyhaven/v1/record-encryption-key');
const INFO_COMMITMENT = Buffer.from('keyhaven/v1/record-key-commitment');
const INFO_FINGERPRINT = Buffer.from('keyhaven/v1/fingerprint-key');
const INFO_AUDIT_CHAIN = Buffer.from('keyhaven/v1/audit-chain-key');

export interface DataKey {
  version: number;
  key: Buffer;
}

/** The data keys a decryption may use: a lookup by version and the minimum version still accepted. */
export interface DataKeySet {
  get(version: number): Buffer | undefined;
  minVersion: number;
}

export interface BlobHeader {
  format: number;
  suite: number;
  dekVersion: number;
}

function derive(dek: Buffer, salt: Uint8Array, info: Buffer): Buffer {
  if (dek.length !== DATA_KEY_LENGTH) throw new RangeError('data key must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', dek, salt, info, 32));
}

export function encryptRecord(dek: DataKey, plaintext: Uint8Array, context: RecordContext): Buffer {
  if (plaintext.length > MAX_PLAINTEXT_LENGTH) throw new RangeError('plaintext is larger than 64 KiB');
  if (!Number.isInteger(dek.version) || dek.version < 1 || dek.version > 0xffffffff) {
    throw new RangeError('data key version must be a positive 32-bit integer');
  }
  const header = Buffer.alloc(HEADER_LENGTH);
  header[0] = BLOB_FORMAT_V1;
  header[1] = SUITE_HKDF_SHA256_AES256GCM_COMMIT;
  header.writeUInt32BE(dek.version, OFFSET_DEK_VERSION);
  const salt = header.subarray(OFFSET_SALT, OFFSET_COMMITMENT);
  randomBytes(SALT_LENGTH).copy(salt);
  randomBytes(IV_LENGTH).copy(header, OFFSET_IV);

  const encryptionKey = derive(dek.key, salt, INFO_ENCRYPTION);
  const commitment = derive(dek.key, salt, INFO_COMMITMENT);
  try {
    commitment.copy(header, OFFSET_COMMITMENT);
    const aad = Buffer.concat([header, encodeRecordContext(context)]);
    const { ciphertext, tag } = aesGcmEncrypt(encryptionKey, header.subarray(OFFSET_IV), plaintext, aad);
    return Buffer.concat([header, ciphertext, tag]);
  } finally {
    encryptionKey.fill(0);
    commitment.fill(0);
  }
}

/** Reads the unauthenticated header; decryptRecord authenticates it. */
export function readBlobHeader(blob: Uint8Array): BlobHeader {
  if (!(blob instanceof Uint8Array) || blob.length < MIN_BLOB_LENGTH || blob.length > MAX_BLOB_LENGTH) {
    throw new DecryptionError('malformed');
  }
  const view = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  return { format: view[0] ?? 0, suite: view[1] ?? 0, dekVersion: view.readUInt32BE(OFFSET_DEK_VERSION) };
}

/**
 * Check order: length bounds, format and suite, data key version (present, not below the minimum),
 * key commitment (constant time, before any decipher exists), then AES-GCM with a 16-byte tag.
 */
export function decryptRecord(blob: Uint8Array, keys: DataKeySet, context: RecordContext): Buffer {
  const recordKey = openRecordKey(blob, keys);
  try {
    return decryptWithRecordKey(blob, recordKey, context);
  } finally {
    recordKey.fill(0);
  }
}

/**
 * The first four checks of decryptRecord: returns the blob's per-record encryption key (the caller
 * zeroes it) once the commitment proves the data key is the one the blob was sealed with.
 */
export function openRecordKey(blob: Uint8Array, keys: DataKeySet): Buffer {
  const header = readBlobHeader(blob);
  if (header.format !== BLOB_FORMAT_V1 || header.suite !== SUITE_HKDF_SHA256_AES256GCM_COMMIT) {
    throw new UnsupportedFormatError();
  }
  if (header.dekVersion < keys.minVersion) throw new KeyVersionTooOldError();
  const dek = keys.get(header.dekVersion);
  if (!dek) throw new KeyVersionMissingError();

  const view = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const salt = view.subarray(OFFSET_SALT, OFFSET_COMMITMENT);
  const commitment = derive(dek, salt, INFO_COMMITMENT);
  const matches = timingSafeEqual(commitment, view.subarray(OFFSET_COMMITMENT, OFFSET_IV));
  commitment.fill(0);
  if (!matches) throw new DecryptionError('authentication_failed');
  return derive(dek, salt, INFO_ENCRYPTION);
}

/** The last check of decryptRecord: AES-GCM under a key from openRecordKey, with the row's context. */
export function decryptWithRecordKey(blob: Uint8Array, recordKey: Buffer, context: RecordContext): Buffer {
  readBlobHeader(blob);
  const view = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const aad = Buffer.concat([view.subarray(0, HEADER_LENGTH), encodeRecordContext(context)]);
  return aesGcmDecrypt(
    recordKey,
    view.subarray(OFFSET_IV, HEADER_LENGTH),
    view.subarray(HEADER_LENGTH, view.length - TAG_LENGTH),
    view.subarray(view.length - TAG_LENGTH),
    aad,
  );
}

/**
 * A keyed fingerprint of a secret: HMAC-SHA256 under a key derived from the user's data key, so equal
 * secrets can be recognised for one user without a plain hash of the key ever being stored.
 */
export function fingerprintSecret(dek: Buffer, material: Uint8Array): string {
  const key = derive(dek, Buffer.alloc(0), INFO_FINGERPRINT);
  try {
    const mac = createHmac('sha256', key).update(material).digest();
    return `fp_${mac.subarray(0, 16).toString('hex')}`;
  } finally {
    key.fill(0);
  }
}

/** The key the audit log's hash chain is MACed with, derived from the audit data key. Caller zeroes it. */
export function deriveAuditChainKey(dek: Buffer): Buffer {
  return derive(dek, Buffer.alloc(0), INFO_AUDIT_CHAIN);
}
