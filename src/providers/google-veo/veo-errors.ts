import { z } from 'zod';
import { mapGoogleError } from '../google-gemini/google-gemini-errors.ts';
import type { ErrorDetails } from '../http.ts';
import type { UpstreamErrorKind } from '../upstream-error.ts';

/**
 * Veo's errors: the Gemini API and Vertex AI answer google.rpc.Status, read by the Gemini adapter's
 * mapGoogleError. Only the OAuth token endpoint of a service account differs: it answers
 * `{"error":"invalid_grant","error_description":"…"}`: these are the OAuth errors of RFC 6749 section 5.2
 * that say the credential itself is bad.
 */
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

const oauthErrorSchema = z.looseObject({ error: z.string(), error_description: z.string().optional() });

export function mapVeoError(status: number, body: unknown, _headers?: Headers): ErrorDetails {
  const oauth = oauthErrorSchema.safeParse(body);
  if (oauth.success) {
    const { error, error_description: description } = oauth.data;
    return {
      kind: OAUTH_KINDS[error] ?? 'bad_request',
      providerCode: error,
      message: description ? `${error}: ${description}` : error,
    };
  }
  return mapGoogleError(status, body);
}
