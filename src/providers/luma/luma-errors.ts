import type { ErrorDetails } from '../http.ts';

/**
 * Luma's errors, mapped in one place. Luma answers FastAPI's `{"detail": "…"}` (a 422 for a body that
 * fails validation carries `{"detail": [{"loc", "msg", "type"}]}`); the status says most: 401 a bad
 * key, 402 no credits left, 429 a rate or concurrency limit with Retry-After. Moderation verdicts
 * and an account out of credits are read from the message, as Luma words them in its docs.
 */
const OUT_OF_CREDITS = /insufficient (credits|balance)|not enough credits|credit balance/i;
const MODERATION = /moderation|blacklisted/i;

interface ValidationIssue {
  loc?: unknown;
  msg?: unknown;
}

function messageOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { detail } = body as { detail?: unknown };
  if (typeof detail === 'string') return detail || undefined;
  if (!Array.isArray(detail)) return undefined;
  const issues = (detail as ValidationIssue[])
    .map((issue) => {
      const location = Array.isArray(issue.loc) ? issue.loc.filter((part) => part !== 'body').join('.') : '';
      const text = typeof issue.msg === 'string' ? issue.msg : '';
      return location ? `${location}: ${text}` : text;
    })
    .filter(Boolean);
  return issues.length > 0 ? issues.join('; ') : undefined;
}

export function mapLumaError(status: number, body: unknown): ErrorDetails {
  const message = messageOf(body);
  const withMessage = message === undefined ? {} : { message };
  if (status === 402 || (message && OUT_OF_CREDITS.test(message))) {
    return { kind: 'quota_exhausted', ...withMessage };
  }
  if ((status === 400 || status === 422) && message && MODERATION.test(message)) {
    return { kind: 'content_filtered', ...withMessage };
  }
  if (status === 422) return { kind: 'bad_request', ...withMessage };
  return withMessage;
}
