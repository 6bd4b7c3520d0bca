import type { ErrorDetails } from '../http.ts';

/**
 * Runway's error bodies, mapped in one place. Every error is `{"error": "<human-readable>"}`, often
 * with `docUrl`; a body that fails validation adds `issues: [{message, path}]`. The status carries the
 * meaning (docs.dev.runwayml.com/api-details/errors), with two exceptions read from the message: an
 * account out of credits is a 400, and a used-up daily task limit is a 429 that no quick retry fixes.
 */
const OUT_OF_CREDITS = /not have enough credits|insufficient credits/i;
const DAILY_LIMIT = /daily .*limit/i;

interface RunwayIssue {
  message?: unknown;
  path?: unknown;
}

function messageOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { error, issues } = body as { error?: unknown; issues?: unknown };
  if (typeof error !== 'string' || !error) return undefined;
  if (!Array.isArray(issues) || issues.length === 0) return error;
  const details = (issues as RunwayIssue[])
    .map((issue) => {
      const path = Array.isArray(issue.path) ? issue.path.join('.') : '';
      const text = typeof issue.message === 'string' ? issue.message : '';
      return path ? `${path}: ${text}` : text;
    })
    .filter(Boolean)
    .join('; ');
  return details ? `${error}: ${details}` : error;
}

export function mapRunwayError(status: number, body: unknown): ErrorDetails {
  const message = messageOf(body);
  const withMessage = message === undefined ? {} : { message };
  if (status === 400 && message && OUT_OF_CREDITS.test(message))
    return { kind: 'quota_exhausted', ...withMessage };
  if (status === 429 && message && DAILY_LIMIT.test(message))
    return { kind: 'quota_exhausted', ...withMessage };
  // Runway documents 502 and 503 as shedding load and 504 as overloaded: all worth a retry later.
  if (status === 502 || status === 503 || status === 504) return { kind: 'overloaded', ...withMessage };
  if (status === 405) return { kind: 'bad_request', ...withMessage };
  return withMessage;
}
