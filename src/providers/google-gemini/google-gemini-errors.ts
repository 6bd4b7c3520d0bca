import { z } from 'zod';
import { redactSecrets } from '../../crypto/index.ts';
import type { ErrorDetails } from '../http.ts';
import { kindFromStatus, parseDuration, UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';

/**
 * Google's error JSON (`google.rpc.Status`), in one place: `{"error":{code,message,status,details}}`, the
 * same on the Gemini API and on Vertex AI, so google-veo can map its errors with mapGoogleError too.
 * The kind comes from `details[].reason` (ErrorInfo) before the status: an invalid API key is a 400.
 */
export const GOOGLE_GEMINI_PROVIDER = 'google-gemini';

const detail = z.looseObject({
  '@type': z.string().optional(),
  reason: z.string().optional(),
  retryDelay: z.string().optional(),
  violations: z
    .array(
      z.looseObject({
        quotaMetric: z.string().optional(),
        quotaId: z.string().optional(),
        quotaValue: z.string().optional(),
      }),
    )
    .optional(),
});

const googleErrorBody = z.looseObject({
  error: z.looseObject({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.unknown()).optional(),
  }),
});

type Detail = z.infer<typeof detail>;

/** google.api.ErrorReason values and what they mean for a stored credential. */
const KIND_BY_REASON: Readonly<Record<string, UpstreamErrorKind>> = {
  API_KEY_INVALID: 'authentication',
  API_KEY_EXPIRED: 'authentication',
  ACCESS_TOKEN_EXPIRED: 'authentication',
  ACCESS_TOKEN_TYPE_UNSUPPORTED: 'authentication',
  CREDENTIALS_MISSING: 'authentication',
  CONSUMER_INVALID: 'authentication',
  CONSUMER_SUSPENDED: 'permission',
  SERVICE_DISABLED: 'permission',
  IAM_PERMISSION_DENIED: 'permission',
  API_KEY_SERVICE_BLOCKED: 'permission',
  API_KEY_HTTP_REFERRER_BLOCKED: 'permission',
  API_KEY_IP_ADDRESS_BLOCKED: 'permission',
  API_KEY_ANDROID_APP_BLOCKED: 'permission',
  API_KEY_IOS_APP_BLOCKED: 'permission',
  ACCESS_TOKEN_SCOPE_INSUFFICIENT: 'permission',
  USER_PROJECT_DENIED: 'permission',
  SECURITY_POLICY_VIOLATED: 'permission',
  LOCATION_TAX_POLICY_VIOLATED: 'permission',
  ACCOUNT_STATE_INVALID: 'permission',
  BILLING_DISABLED: 'quota_exhausted',
};

const KIND_BY_STATUS: Readonly<Record<string, UpstreamErrorKind>> = {
  UNAUTHENTICATED: 'authentication',
  PERMISSION_DENIED: 'permission',
  NOT_FOUND: 'not_found',
  INVALID_ARGUMENT: 'bad_request',
  OUT_OF_RANGE: 'bad_request',
  // Gemini's FAILED_PRECONDITION is about the account, not the request: "User location is not supported",
  // "free tier is not available in your country, enable billing". Only the account owner can fix it.
  FAILED_PRECONDITION: 'permission',
  RESOURCE_EXHAUSTED: 'rate_limited',
  INTERNAL: 'server_error',
  UNKNOWN: 'server_error',
  DATA_LOSS: 'server_error',
  UNAVAILABLE: 'overloaded',
  DEADLINE_EXCEEDED: 'timeout',
};

export interface GoogleErrorSummary {
  kind: UpstreamErrorKind;
  message: string | undefined;
  /** The ErrorInfo reason when there is one (API_KEY_INVALID), else the status (RESOURCE_EXHAUSTED). */
  providerCode: string | undefined;
  retryAfterMs: number | undefined;
}

function typeOf(entry: Detail): string {
  return entry['@type']?.replace(/^type\.googleapis\.com\//, '') ?? '';
}

/**
 * A 429 is a rate limit unless its QuotaFailure names a per-day quota, or a quota of zero (the free tier
 * does not cover this model). Those do not come back in seconds, whatever RetryInfo says (Google
 * attaches a retryDelay even then), so they are quota_exhausted and not retried; the delay is kept
 * for the caller to show.
 */
function exhaustsQuota(details: readonly Detail[]): boolean {
  return details
    .filter((entry) => typeOf(entry) === 'google.rpc.QuotaFailure')
    .flatMap((entry) => entry.violations ?? [])
    .some(
      (violation) =>
        /PerDay/i.test(violation.quotaId ?? '') ||
        /per_day|daily/i.test(violation.quotaMetric ?? '') ||
        violation.quotaValue === '0',
    );
}

/** Reads a Google error body; undefined when the body is not one. */
export function summariseGoogleError(
  status: number | undefined,
  body: unknown,
): GoogleErrorSummary | undefined {
  const parsed = googleErrorBody.safeParse(body);
  if (!parsed.success) return undefined;
  const { error } = parsed.data;
  const details = (error.details ?? []).flatMap((entry) => {
    const result = detail.safeParse(entry);
    return result.success ? [result.data] : [];
  });
  // Only ErrorInfo carries a top-level reason and only RetryInfo a retryDelay, so neither needs its
  // @type (Vertex bodies sometimes come without one).
  const reason = details.find((entry) => entry.reason)?.reason;
  const retryAfterMs = parseDuration(details.find((entry) => entry.retryDelay)?.retryDelay);
  const httpStatus = status ?? error.code;
  let kind: UpstreamErrorKind | undefined = reason ? KIND_BY_REASON[reason] : undefined;
  if (kind === undefined && error.status === 'RESOURCE_EXHAUSTED') {
    kind = exhaustsQuota(details) ? 'quota_exhausted' : 'rate_limited';
  }
  kind ??=
    (error.status ? KIND_BY_STATUS[error.status] : undefined) ??
    (httpStatus ? kindFromStatus(httpStatus) : 'server_error');
  // An empty message says nothing: leaving it out lets the caller fall back to the HTTP status.
  return { kind, message: error.message || undefined, providerCode: reason ?? error.status, retryAfterMs };
}

/**
 * The ErrorMapper for any Google API speaking google.rpc.Status (Gemini API, Vertex AI). Headers are
 * not read: Google puts its wait in the body's RetryInfo.
 */
export function mapGoogleError(status: number, body: unknown, _headers?: Headers): ErrorDetails {
  const summary = summariseGoogleError(status, body);
  if (!summary) return {};
  return {
    kind: summary.kind,
    ...(summary.message === undefined ? {} : { message: summary.message }),
    ...(summary.providerCode === undefined ? {} : { providerCode: summary.providerCode }),
    ...(summary.retryAfterMs === undefined ? {} : { retryAfterMs: summary.retryAfterMs }),
  };
}

/**
 * An error object inside a stream (`data: {"error":{...}}`): the response was 200, so the kind comes from
 * the body alone. Gemini ends a failing SSE stream this way.
 */
export function googleStreamError(
  provider: string,
  body: unknown,
  secrets: readonly string[],
): UpstreamError {
  const summary = summariseGoogleError(undefined, body);
  const raw = redactSecrets(JSON.stringify(body), secrets).slice(0, 4096);
  return new UpstreamError({
    provider,
    kind: summary?.kind ?? 'server_error',
    message: redactSecrets(summary?.message ?? 'the stream ended with an error', secrets),
    ...(summary?.providerCode === undefined ? {} : { providerCode: summary.providerCode }),
    ...(summary?.retryAfterMs === undefined ? {} : { retryAfterMs: summary.retryAfterMs }),
    body: raw,
  });
}
