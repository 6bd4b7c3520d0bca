import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type ErrorCode, KeyhavenError } from '../errors.ts';
import { isUpstreamError, type UpstreamError, type UpstreamErrorKind } from '../providers/upstream-error.ts';
import { isDatabaseUnavailable } from '../store/index.ts';

/**
 * The one place error codes become HTTP statuses and the `{ error: { code, message, requestId } }` body.
 * Anything that is not a KeyhavenError, an UpstreamError or a framework client error is a bug: a generic
 * 500 goes to the client and the detail only to the log.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  // A provider is named in the path (`/credentials/{provider}`), so an unknown one is a missing resource.
  unknown_provider: 404,
  credential_invalid: 422,
  // The user has no credential for the provider a call needs: the caller must connect one first.
  credential_missing: 409,
  // Keyhaven's own per-user limit (with Retry-After); an upstream 429 keeps the provider's body.
  rate_limited: 429,
  // The user's hard monthly budget cannot hold the call: refused before it reaches the provider.
  budget_exceeded: 402,
  unsupported_request: 422,
  capability_retired: 422,
  provider_rate_limited: 429,
  provider_unavailable: 503,
  key_version_in_use: 409,
  conflict: 409,
  // Keyhaven's own database is unreachable (down, restarting): nothing was changed, retry shortly.
  unavailable: 503,
  decryption_failed: 500,
  invalid_config: 500,
  internal: 500,
};

/** Codes whose own message could describe internals: the client gets a fixed text instead. */
const GENERIC_MESSAGES: Partial<Record<ErrorCode, string>> = {
  decryption_failed: 'a stored credential could not be decrypted',
  invalid_config: 'the server is misconfigured',
  internal: 'internal server error',
};

export const errorBodySchema = z.object({
  error: z.object({
    code: z.enum([
      'invalid_request',
      'unauthorized',
      'not_found',
      'unknown_provider',
      'credential_invalid',
      'credential_missing',
      'rate_limited',
      'budget_exceeded',
      'unsupported_request',
      'capability_retired',
      'provider_rate_limited',
      'provider_unavailable',
      'key_version_in_use',
      'conflict',
      'unavailable',
      'decryption_failed',
      'invalid_config',
      'internal',
    ] satisfies readonly ErrorCode[]),
    message: z.string(),
    requestId: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Upstream failures as our codes: a refused key is the user's to fix (422), an outage is ours (503). */
const UPSTREAM_CODES: Readonly<Record<UpstreamErrorKind, ErrorCode>> = {
  authentication: 'credential_invalid',
  permission: 'credential_invalid',
  quota_exhausted: 'provider_rate_limited',
  rate_limited: 'provider_rate_limited',
  overloaded: 'provider_unavailable',
  server_error: 'provider_unavailable',
  unreachable: 'provider_unavailable',
  timeout: 'provider_unavailable',
  invalid_response: 'provider_unavailable',
  bad_request: 'invalid_request',
  content_filtered: 'invalid_request',
  not_found: 'not_found',
  capability_retired: 'capability_retired',
  unsupported: 'unsupported_request',
};

function fromUpstream(error: UpstreamError): KeyhavenError {
  // The upstream message has been through secret redaction in the adapter that produced it.
  return new KeyhavenError(UPSTREAM_CODES[error.kind], error.message, {
    details: { provider: error.provider, kind: error.kind },
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  });
}

/** Framework errors (bad JSON, wrong content type, body too large) with messages we wrote ourselves. */
const FRAMEWORK_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'the request body is not valid JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the request body is empty but its content type is application/json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type; send application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the content length does not match the body',
  FST_ERR_BAD_URL: 'the URL is malformed',
  FST_ERR_MAX_PARAM_LENGTH: 'a path parameter is too long',
};

function fromFramework(error: FastifyError): KeyhavenError | undefined {
  if (hasZodFastifySchemaValidationErrors(error)) {
    // Issue messages describe the rule (zod never puts the received value in them); never the input.
    const issues = error.validation.map((issue) => ({
      path: `${error.validationContext ?? 'request'}${issue.instancePath.replaceAll('/', '.')}`,
      message: issue.message ?? 'invalid value',
    }));
    return new KeyhavenError(
      'invalid_request',
      `invalid request: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`,
      { details: { issues } },
    );
  }
  if (isResponseSerializationError(error)) return undefined;
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const message = FRAMEWORK_MESSAGES[error.code] ?? 'the request could not be read';
    return new KeyhavenError('invalid_request', message);
  }
  return undefined;
}

export function toKeyhavenError(error: unknown): KeyhavenError | undefined {
  if (error instanceof KeyhavenError) return error;
  if (isUpstreamError(error)) return fromUpstream(error);
  if (isDatabaseUnavailable(error)) {
    return new KeyhavenError('unavailable', 'the service cannot reach its database; retry shortly', {
      retryAfterMs: 1000,
    });
  }
  if (error instanceof Error && 'code' in error && typeof error.code === 'string')
    return fromFramework(error as FastifyError);
  return undefined;
}

export function errorBody(error: KeyhavenError, requestId: string): ErrorBody {
  const message = GENERIC_MESSAGES[error.code] ?? error.message;
  const exposeDetails = error.details !== undefined && GENERIC_MESSAGES[error.code] === undefined;
  return {
    error: {
      code: error.code,
      message,
      requestId,
      ...(exposeDetails && error.details ? { details: error.details } : {}),
    },
  };
}

/** Writes the error response. Unknown errors are logged in full and answered with a generic 500. */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const known = toKeyhavenError(error) ?? new KeyhavenError('internal', 'internal server error');
  const status = HTTP_STATUS[known.code];
  if (status >= 500) {
    request.log.error({ err: error, code: known.code }, 'request failed');
  } else {
    request.log.info({ code: known.code, status }, 'request refused');
  }
  if (known.retryAfterMs !== undefined && (status === 429 || status === 503)) {
    reply.header('retry-after', String(Math.max(1, Math.ceil(known.retryAfterMs / 1000))));
  }
  return reply.code(status).type('application/json').send(errorBody(known, request.id));
}
