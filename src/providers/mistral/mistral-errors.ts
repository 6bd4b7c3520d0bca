import { z } from 'zod';
import { redactSecrets } from '../../crypto/index.ts';
import { type ErrorDetails, type ErrorMapper, MAX_ERROR_BODY } from '../http.ts';
import { kindFromStatus, UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';

/**
 * Mistral's errors, in one place. Its gateway and its model API answer in different shapes:
 * - documented envelope: {"object":"error","message","type","param","code"} (message may be an object);
 *   429 is {"object":"error","message":"Rate limit exceeded","type":"rate_limited","code":"1300"};
 * - gateway: {"detail":"Unauthorized"} (a bad or missing key), older {"message":"Unauthorized","request_id"}
 *   and {"message":"Requests rate limit exceeded"};
 * - request validation (422): {"detail":[{"loc","msg","type"}]}.
 * Exhausted credit or a reached spending limit is 402 Payment Required.
 */
const validationIssue = z.object({
  msg: z.string(),
  loc: z.array(z.union([z.string(), z.number()])).optional(),
});

const mistralErrorBody = z.object({
  object: z.string().optional(),
  message: z.unknown().optional(),
  type: z.string().nullish(),
  param: z.string().nullish(),
  code: z.union([z.string(), z.number()]).nullish(),
  detail: z.union([z.string(), z.array(validationIssue)]).optional(),
});

type MistralErrorBody = z.infer<typeof mistralErrorBody>;

function parse(body: unknown): MistralErrorBody | undefined {
  const parsed = mistralErrorBody.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}

function messageOf(error: MistralErrorBody | undefined): string | undefined {
  if (!error) return undefined;
  if (typeof error.message === 'string' && error.message) return error.message;
  if (error.message !== undefined && error.message !== null) return JSON.stringify(error.message);
  if (typeof error.detail === 'string') return error.detail;
  if (Array.isArray(error.detail)) {
    return error.detail.map((issue) => `${(issue.loc ?? []).join('.')}: ${issue.msg}`).join('; ');
  }
  return undefined;
}

const BILLING = /spending limit|quota|credit|payment|billing/i;
const CAPACITY = /capacity exceeded|overloaded/i;

function kindOf(status: number, message: string | undefined): UpstreamErrorKind {
  if (status === 402) return 'quota_exhausted';
  if (status === 429 && message && BILLING.test(message)) return 'quota_exhausted';
  // "Service tier capacity exceeded for this model." is Mistral running out of room, not the user.
  if (message && CAPACITY.test(message) && (status === 429 || status >= 500)) return 'overloaded';
  if (status === 422) return 'bad_request';
  return kindFromStatus(status);
}

export const mapMistralError: ErrorMapper = (status, body) => {
  const error = parse(body);
  const message = messageOf(error);
  const details: ErrorDetails = { kind: kindOf(status, message) };
  if (message) details.message = message;
  const code = error?.code ?? error?.type;
  if (code !== undefined && code !== null) details.providerCode = String(code);
  return details;
};

/** True for a stream event that is an error rather than a chunk, in either shape Mistral may use. */
export function isMistralStreamError(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  return ('object' in data && data.object === 'error') || ('error' in data && Boolean(data.error));
}

/** An error sent inside a stream after a 200: no status, so it is a server error unless it says more. */
export function mistralStreamError(data: unknown, secrets: readonly string[]): UpstreamError {
  const inner = typeof data === 'object' && data !== null && 'error' in data ? data.error : data;
  const error = parse(inner);
  const message = messageOf(error) ?? 'the stream reported an error';
  let kind: UpstreamErrorKind = 'server_error';
  if (error?.type === 'rate_limited' || error?.code === '1300') kind = 'rate_limited';
  else if (CAPACITY.test(message)) kind = 'overloaded';
  const code = error?.code ?? error?.type;
  return new UpstreamError({
    provider: 'mistral',
    kind,
    message: redactSecrets(message, secrets),
    ...(code === undefined || code === null ? {} : { providerCode: String(code) }),
    body: redactSecrets(JSON.stringify(data), secrets).slice(0, MAX_ERROR_BODY),
  });
}
