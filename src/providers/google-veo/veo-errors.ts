import { z } from 'zod';
import type { ErrorDetails } from '../http.ts';
import { parseDuration, type UpstreamErrorKind } from '../upstream-error.ts';

/**
 * Google's errors, mapped in one place. The Gemini API and Vertex AI answer
 * `{"error":{"code","message","status","details":[…]}}`, where the meaning is in `details[].reason`
 * more than in the HTTP status (a wrong API key is a 400 with reason API_KEY_INVALID, not a 401), and a
 * 429 carries its wait as a RetryInfo `retryDelay` ("37.2s"). The OAuth token endpoint answers
 * `{"error":"invalid_grant","error_description":"…"}` instead.
 */
const AUTHENTICATION_REASONS = new Set([
  'API_KEY_INVALID',
  'API_KEY_EXPIRED',
  'ACCESS_TOKEN_EXPIRED',
  'ACCESS_TOKEN_TYPE_UNSUPPORTED',
  'CREDENTIALS_MISSING',
]);

const PERMISSION_REASONS = new Set([
  'CONSUMER_SUSPENDED',
  'SERVICE_DISABLED',
  'BILLING_DISABLED',
  'IAM_PERMISSION_DENIED',
  'API_KEY_SERVICE_BLOCKED',
  'API_KEY_HTTP_REFERRER_BLOCKED',
  'API_KEY_IP_ADDRESS_BLOCKED',
]);

const KIND_BY_STATUS: Readonly<Record<string, UpstreamErrorKind>> = {
  UNAUTHENTICATED: 'authentication',
  PERMISSION_DENIED: 'permission',
  INVALID_ARGUMENT: 'bad_request',
  FAILED_PRECONDITION: 'bad_request',
  OUT_OF_RANGE: 'bad_request',
  NOT_FOUND: 'not_found',
  UNAVAILABLE: 'overloaded',
  INTERNAL: 'server_error',
  UNKNOWN: 'server_error',
  DATA_LOSS: 'server_error',
  DEADLINE_EXCEEDED: 'timeout',
};

/** The OAuth errors of RFC 6749 section 5.2 that say the credential itself is bad. */
const OAUTH_KINDS: Readonly<Record<string, UpstreamErrorKind>> = {
  invalid_grant: 'authentication',
  invalid_client: 'authentication',
  unauthorized_client: 'authentication',
  access_denied: 'permission',
  invalid_scope: 'permission',
};

/** google.rpc.Code by number, as long-running operations report their errors. */
const RPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export function rpcCodeName(code: number | undefined): string {
  return (code === undefined ? undefined : RPC_CODES[code]) ?? `CODE_${code ?? 'UNKNOWN'}`;
}

/** Operation errors worth trying again: Google's own transient failures. */
export function isRetryableRpcCode(code: number | undefined): boolean {
  return code === 4 || code === 10 || code === 13 || code === 14;
}

const detailSchema = z.looseObject({
  reason: z.string().optional(),
  retryDelay: z.string().optional(),
  violations: z.array(z.looseObject({ quotaId: z.string().optional() })).optional(),
});

const googleErrorSchema = z.looseObject({
  error: z.looseObject({
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.unknown()).optional(),
  }),
});

const oauthErrorSchema = z.looseObject({ error: z.string(), error_description: z.string().optional() });

type GoogleDetail = z.infer<typeof detailSchema>;

/** A quota counted per day is spent until tomorrow: not a rate limit a short wait fixes. */
function isDailyQuota(details: GoogleDetail[]): boolean {
  return details.some((detail) =>
    detail.violations?.some((violation) => /PerDay/i.test(violation.quotaId ?? '')),
  );
}

export function mapGoogleError(_status: number, body: unknown): ErrorDetails {
  const oauth = oauthErrorSchema.safeParse(body);
  if (oauth.success) {
    const { error, error_description: description } = oauth.data;
    return {
      kind: OAUTH_KINDS[error] ?? 'bad_request',
      providerCode: error,
      message: description ? `${error}: ${description}` : error,
    };
  }
  const parsed = googleErrorSchema.safeParse(body);
  if (!parsed.success) return {};
  const { message, status, details: rawDetails = [] } = parsed.data.error;
  // Details of other shapes (Help links, localized messages) are skipped, not fatal.
  const details = rawDetails.flatMap((detail) => {
    const result = detailSchema.safeParse(detail);
    return result.success ? [result.data] : [];
  });
  const reason = details.find((detail) => detail.reason)?.reason;
  const retryAfterMs = parseDuration(details.find((detail) => detail.retryDelay)?.retryDelay);
  let kind: UpstreamErrorKind | undefined;
  if (reason && AUTHENTICATION_REASONS.has(reason)) kind = 'authentication';
  else if (reason && PERMISSION_REASONS.has(reason)) kind = 'permission';
  else if (status === 'RESOURCE_EXHAUSTED') kind = isDailyQuota(details) ? 'quota_exhausted' : 'rate_limited';
  else if (status) kind = KIND_BY_STATUS[status];
  const providerCode = reason ?? status;
  return {
    ...(kind ? { kind } : {}),
    ...(message ? { message } : {}),
    ...(providerCode ? { providerCode } : {}),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}
