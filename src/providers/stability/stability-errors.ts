import type { ErrorDetails } from '../http.ts';
import { retryAfterFromHeaders, type UpstreamErrorKind } from '../upstream-error.ts';

/**
 * Stability's error bodies, mapped in one place. The v1 API answers `{id, name, message}`; the v2beta
 * API `{id, name, errors: [...]}`. `name` says what happened, more precisely than the status: a 403 is
 * content moderation (`content_moderation`) as often as a permission problem, and running out of
 * credits is 402 `payment_required`. A 429 (more than 150 requests in 10 s) times the caller out for
 * the number of seconds its message states when no header says otherwise.
 */
const KIND_BY_NAME: Readonly<Record<string, UpstreamErrorKind>> = {
  unauthorized: 'authentication',
  permission_denied: 'permission',
  forbidden: 'permission',
  content_moderation: 'content_filtered',
  payment_required: 'quota_exhausted',
  insufficient_balance: 'quota_exhausted',
  rate_limit_exceeded: 'rate_limited',
  not_found: 'not_found',
  bad_request: 'bad_request',
  invalid_language: 'bad_request',
  payload_too_large: 'bad_request',
  internal_error: 'server_error',
  server_error: 'server_error',
};

function read(body: unknown): { name?: string; message?: string } {
  if (typeof body !== 'object' || body === null) return {};
  const { name, message, errors } = body as { name?: unknown; message?: unknown; errors?: unknown };
  const texts = Array.isArray(errors)
    ? errors.filter((error): error is string => typeof error === 'string')
    : [];
  const text = texts.length > 0 ? texts.join('; ') : typeof message === 'string' ? message : undefined;
  return {
    ...(typeof name === 'string' && name ? { name } : {}),
    ...(text ? { message: text } : {}),
  };
}

export function mapStabilityError(status: number, body: unknown, headers: Headers): ErrorDetails {
  const { name, message } = read(body);
  let kind = name === undefined ? undefined : KIND_BY_NAME[name];
  if (kind === undefined && status === 402) kind = 'quota_exhausted';
  if (kind === undefined && status === 403 && message && /content moderation/i.test(message))
    kind = 'content_filtered';
  const details: ErrorDetails = {
    ...(kind ? { kind } : {}),
    ...(message ? { message } : {}),
    ...(name ? { providerCode: name } : {}),
  };
  if (status === 429 || kind === 'rate_limited') {
    const timedOut = message ? /timed out for (\d+(?:\.\d+)?) seconds/i.exec(message) : null;
    const wait = retryAfterFromHeaders(headers) ?? (timedOut?.[1] ? Number(timedOut[1]) * 1000 : undefined);
    if (wait !== undefined) details.retryAfterMs = wait;
  }
  return details;
}
