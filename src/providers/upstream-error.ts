/**
 * One error type for everything a provider call can fail with. Adapters map their provider's error
 * bodies into it in one function each; `message` and `body` have passed through secret redaction.
 */
export type UpstreamErrorKind =
  | 'authentication'
  | 'permission'
  | 'quota_exhausted'
  | 'rate_limited'
  | 'overloaded'
  | 'server_error'
  | 'bad_request'
  | 'not_found'
  | 'content_filtered'
  | 'unreachable'
  | 'timeout'
  | 'invalid_response'
  | 'capability_retired'
  | 'unsupported';

const RETRYABLE: ReadonlySet<UpstreamErrorKind> = new Set([
  'rate_limited',
  'overloaded',
  'server_error',
  'unreachable',
  'timeout',
]);

export interface UpstreamErrorOptions {
  provider: string;
  kind: UpstreamErrorKind;
  message: string;
  status?: number;
  retryAfterMs?: number;
  /** The provider's error code or type (`invalid_api_key`, `overloaded_error`, `API_KEY_INVALID`). */
  providerCode?: string;
  requestId?: string;
  body?: string;
}

export class UpstreamError extends Error {
  readonly code = 'upstream_error';
  readonly provider: string;
  readonly kind: UpstreamErrorKind;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly providerCode: string | undefined;
  readonly requestId: string | undefined;
  readonly body: string | undefined;

  constructor(options: UpstreamErrorOptions) {
    super(`${options.provider}: ${options.message}`);
    this.name = 'UpstreamError';
    this.provider = options.provider;
    this.kind = options.kind;
    this.status = options.status;
    this.retryable = RETRYABLE.has(options.kind);
    this.retryAfterMs = options.retryAfterMs;
    this.providerCode = options.providerCode;
    this.requestId = options.requestId;
    this.body = options.body;
  }
}

export function isUpstreamError(error: unknown, kind?: UpstreamErrorKind): error is UpstreamError {
  return error instanceof UpstreamError && (kind === undefined || error.kind === kind);
}

/** The kind an HTTP status implies when a provider's body says nothing more specific. */
export function kindFromStatus(status: number): UpstreamErrorKind {
  if (status === 401) return 'authentication';
  if (status === 403) return 'permission';
  if (status === 404) return 'not_found';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status === 529 || status === 503 || status === 502) return 'overloaded';
  if (status >= 500) return 'server_error';
  return 'bad_request';
}

/**
 * A duration as providers write it: `retry-after-ms` (ms), `retry-after` (seconds or an HTTP date),
 * reset headers (`1s`, `6m0s`, `12ms`, `1h2m3.5s`, or an RFC 3339 time), Gemini's `retryDelay` (`37.2s`).
 */
export function parseDuration(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const units =
    /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(text);
  if (units && text.length > 0 && units.slice(1).some((part) => part !== undefined)) {
    const [, hours = '0', minutes = '0', seconds = '0', milliseconds = '0'] = units;
    return Math.round(
      Number(hours) * 3_600_000 + Number(minutes) * 60_000 + Number(seconds) * 1000 + Number(milliseconds),
    );
  }
  const date = Date.parse(text);
  if (!Number.isNaN(date)) return Math.max(0, date - now);
  return undefined;
}

/** The wait a response asks for, from the headers every provider uses. */
export function retryAfterFromHeaders(headers: Headers, now = Date.now()): number | undefined {
  const milliseconds = headers.get('retry-after-ms');
  if (milliseconds && /^\d+(\.\d+)?$/.test(milliseconds.trim())) return Math.round(Number(milliseconds));
  const retryAfter = parseDuration(headers.get('retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  const resets = [
    'x-ratelimit-reset-requests',
    'x-ratelimit-reset-tokens',
    'anthropic-ratelimit-requests-reset',
    'anthropic-ratelimit-tokens-reset',
    'anthropic-ratelimit-input-tokens-reset',
    'anthropic-ratelimit-output-tokens-reset',
  ]
    .map((name) => parseDuration(headers.get(name), now))
    .filter((wait): wait is number => wait !== undefined);
  return resets.length > 0 ? Math.max(...resets) : undefined;
}
