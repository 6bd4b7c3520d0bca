import { z } from 'zod';
import { redactSecrets } from '../../crypto/index.ts';
import { type ErrorDetails, type ErrorMapper, MAX_ERROR_BODY } from '../http.ts';
import {
  kindFromStatus,
  parseDuration,
  retryAfterFromHeaders,
  UpstreamError,
  type UpstreamErrorKind,
} from '../upstream-error.ts';

/**
 * OpenAI's errors, in one place. Every error body is `{"error":{"message","type","param","code"}}`;
 * the status says most of it, the code tells a spent quota from a rate limit (both are 429).
 */
const openAIErrorBody = z.object({
  error: z.object({
    message: z.string().nullish(),
    type: z.string().nullish(),
    param: z.string().nullish(),
    code: z.union([z.string(), z.number()]).nullish(),
  }),
});

type OpenAIErrorObject = z.infer<typeof openAIErrorBody>['error'];

function openAIErrorObject(body: unknown): OpenAIErrorObject | undefined {
  const parsed = openAIErrorBody.safeParse(body);
  return parsed.success ? parsed.data.error : undefined;
}

/**
 * The wait written in a rate-limit message ("Please try again in 644ms.", "in 1.5s", "in 6m0s"):
 * OpenAI sometimes omits the headers, never the sentence.
 */
export function waitFromMessage(message: string | null | undefined): number | undefined {
  const match = /try again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)/i.exec(message ?? '');
  return match?.[1] === undefined ? undefined : parseDuration(match[1]);
}

function isQuota(error: OpenAIErrorObject | undefined): boolean {
  return error?.code === 'insufficient_quota' || error?.type === 'insufficient_quota';
}

function kindOf(status: number, error: OpenAIErrorObject | undefined): UpstreamErrorKind {
  if (isQuota(error)) return 'quota_exhausted';
  if (status === 400 && (error?.code === 'content_policy_violation' || error?.code === 'content_filter'))
    return 'content_filtered';
  return kindFromStatus(status);
}

export const mapOpenAIError: ErrorMapper = (status, body, headers) => {
  const error = openAIErrorObject(body);
  const kind = kindOf(status, error);
  const details: ErrorDetails = { kind };
  if (error?.message) details.message = error.message;
  const code = error?.code ?? error?.type;
  if (code !== undefined && code !== null) details.providerCode = String(code);
  if (kind === 'rate_limited') {
    const wait = retryAfterFromHeaders(headers) ?? waitFromMessage(error?.message);
    if (wait !== undefined) details.retryAfterMs = wait;
  }
  return details;
};

/**
 * An error sent inside a stream (`data: {"error":{...}}`) after a 200: no status, so the error's type
 * decides. Mid-stream failures are server-side by nature, so anything unrecognised is a server error.
 */
export function openAIStreamError(error: unknown, secrets: readonly string[]): UpstreamError {
  const parsed = openAIErrorBody.safeParse({ error });
  const details = parsed.success ? parsed.data.error : undefined;
  const code = details?.code ?? details?.type ?? undefined;
  let kind: UpstreamErrorKind = 'server_error';
  if (isQuota(details)) kind = 'quota_exhausted';
  else if (code === 'rate_limit_exceeded' || details?.type === 'tokens' || details?.type === 'requests')
    kind = 'rate_limited';
  const retryAfterMs = kind === 'rate_limited' ? waitFromMessage(details?.message) : undefined;
  return new UpstreamError({
    provider: 'openai',
    kind,
    message: redactSecrets(details?.message ?? 'the stream reported an error', secrets),
    ...(code === undefined || code === null ? {} : { providerCode: String(code) }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    body: redactSecrets(JSON.stringify({ error }), secrets).slice(0, MAX_ERROR_BODY),
  });
}
