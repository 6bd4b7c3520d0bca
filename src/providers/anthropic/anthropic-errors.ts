import { z } from 'zod';
import { redactSecrets } from '../../crypto/index.ts';
import type { ErrorDetails, ErrorMapper } from '../http.ts';
import { kindFromStatus, UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';

/**
 * Anthropic's error JSON, in one place. Every error, as an HTTP body or as the data of a mid-stream
 * `event: error`, is `{"type":"error","error":{"type":T,"message":M},"request_id":"req_..."}`.
 */
export const ANTHROPIC_PROVIDER = 'anthropic';

const anthropicErrorBody = z.looseObject({
  type: z.literal('error').optional(),
  error: z.looseObject({ type: z.string(), message: z.string().optional() }),
  request_id: z.string().optional(),
});

const KIND_BY_TYPE: Readonly<Record<string, UpstreamErrorKind>> = {
  invalid_request_error: 'bad_request',
  request_too_large: 'bad_request',
  authentication_error: 'authentication',
  permission_error: 'permission',
  not_found_error: 'not_found',
  rate_limit_error: 'rate_limited',
  billing_error: 'quota_exhausted',
  api_error: 'server_error',
  overloaded_error: 'overloaded',
  timeout_error: 'timeout',
};

/**
 * An account out of credit has long been answered 400 invalid_request_error ("Your credit balance is
 * too low..."), not 402 billing_error: retrying it is pointless, so it is quota exhausted, not a bad
 * request the caller could fix.
 */
const CREDIT_EXHAUSTED = /credit balance is too low|reached your specified API usage limits/i;

function kindOf(type: string, status: number | undefined, message: string | undefined): UpstreamErrorKind {
  if (type === 'invalid_request_error' && message && CREDIT_EXHAUSTED.test(message)) return 'quota_exhausted';
  return KIND_BY_TYPE[type] ?? (status === undefined ? 'server_error' : kindFromStatus(status));
}

/** What an Anthropic error body says, beyond its status; the wait comes from the response headers. */
export const mapAnthropicError: ErrorMapper = (status, body): ErrorDetails => {
  const parsed = anthropicErrorBody.safeParse(body);
  if (!parsed.success) return {};
  const { type, message } = parsed.data.error;
  return {
    kind: kindOf(type, status, message),
    providerCode: type,
    ...(message === undefined ? {} : { message }),
  };
};

/**
 * An `event: error` frame in the middle of a stream: the HTTP status was 200 long ago, so the kind comes
 * from the error type alone (`overloaded_error` is the usual one).
 */
export function anthropicStreamError(data: string, secrets: readonly string[]): UpstreamError {
  const body = redactSecrets(data, secrets).slice(0, 4096);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const parsed = anthropicErrorBody.safeParse(json);
  const type = parsed.success ? parsed.data.error.type : undefined;
  const message = parsed.success ? parsed.data.error.message : undefined;
  return new UpstreamError({
    provider: ANTHROPIC_PROVIDER,
    kind: type === undefined ? 'server_error' : kindOf(type, undefined, message),
    message: message ?? 'the stream ended with an error event',
    ...(type === undefined ? {} : { providerCode: type }),
    ...(parsed.success && parsed.data.request_id ? { requestId: parsed.data.request_id } : {}),
    body,
  });
}
