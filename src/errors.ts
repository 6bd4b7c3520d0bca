/**
 * Expected failures carry a fixed code from one enum; the HTTP layer maps codes to statuses in one place.
 * Messages are written for the caller and never hold a secret.
 */
export const ERROR_CODES = [
  'invalid_request',
  'unauthorized',
  'unknown_provider',
  'not_found',
  'credential_invalid',
  'credential_missing',
  'rate_limited',
  'budget_exceeded',
  'provider_unavailable',
  'provider_rate_limited',
  'key_version_in_use',
  'unsupported_request',
  'capability_retired',
  'decryption_failed',
  'invalid_config',
  'conflict',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface KeyhavenErrorOptions {
  /** Safe, structured detail for the caller (field errors, allowed values). Never secrets. */
  details?: Record<string, unknown>;
  retryAfterMs?: number;
}

export class KeyhavenError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, { details, retryAfterMs }: KeyhavenErrorOptions = {}) {
    super(message);
    this.name = 'KeyhavenError';
    this.code = code;
    if (details) this.details = details;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

export function isKeyhavenError(error: unknown, code?: ErrorCode): error is KeyhavenError {
  return error instanceof KeyhavenError && (code === undefined || error.code === code);
}
