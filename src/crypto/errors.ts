/**
 * Crypto failures. Every decryption failure is a DecryptionError with a fixed message that never
 * carries blob, key or plaintext bytes; subclasses only say which check refused the input.
 */
export type DecryptionFailure =
  | 'malformed'
  | 'unsupported_format'
  | 'key_version_missing'
  | 'key_version_too_old'
  | 'authentication_failed';

const MESSAGES: Record<DecryptionFailure, string> = {
  malformed: 'decryption failed: malformed ciphertext',
  unsupported_format: 'decryption failed: unsupported format',
  key_version_missing: 'decryption failed: key version not available',
  key_version_too_old: 'decryption failed: key version below the minimum decryption version',
  authentication_failed: 'decryption failed: authentication failed',
};

export class DecryptionError extends Error {
  readonly code = 'decryption_failed';
  readonly failure: DecryptionFailure;

  constructor(failure: DecryptionFailure = 'authentication_failed') {
    super(MESSAGES[failure]);
    this.name = 'DecryptionError';
    this.failure = failure;
  }
}

export class UnsupportedFormatError extends DecryptionError {
  constructor() {
    super('unsupported_format');
    this.name = 'UnsupportedFormatError';
  }
}

export class KeyVersionMissingError extends DecryptionError {
  constructor() {
    super('key_version_missing');
    this.name = 'KeyVersionMissingError';
  }
}

export class KeyVersionTooOldError extends DecryptionError {
  constructor() {
    super('key_version_too_old');
    this.name = 'KeyVersionTooOldError';
  }
}

/** A master-key configuration problem. The message names the variable and never echoes key material. */
export class KeyringConfigError extends Error {
  readonly code = 'invalid_config';
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'KeyringConfigError';
    this.variable = variable;
  }
}
