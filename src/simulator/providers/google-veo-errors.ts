import type { ErrorOptions, SimulatedError } from '../types.ts';

/**
 * Google's error envelope, as both the Gemini API and Vertex AI send it:
 * `{"error":{"code":<http status>,"message":"…","status":"<google.rpc.Code name>","details":[…]}}`.
 * Bodies follow recorded and user-pasted real responses (reference/providers.md sections 3 and 4).
 */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const DEFAULT_MESSAGES: Readonly<Record<number, string>> = {
  400: 'Request contains an invalid argument.',
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  403: 'The caller does not have permission',
  404: 'Requested entity was not found.',
  500: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  502: 'The service is currently unavailable.',
  503: 'The model is overloaded. Please try again later.',
  504: 'The request timed out. Please try again.',
};

export function googleError(
  status: number,
  message = DEFAULT_MESSAGES[status] ?? 'Unknown error.',
  details?: unknown[],
): SimulatedError {
  return {
    status,
    body: {
      error: {
        code: status,
        message,
        status: STATUS_NAMES[status] ?? 'UNKNOWN',
        ...(details ? { details } : {}),
      },
    },
  };
}

export function errorInfo(reason: string, service: string): Record<string, unknown> {
  return {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason,
    domain: 'googleapis.com',
    metadata: { service },
  };
}

/**
 * 429 as Gemini sends it: a QuotaFailure naming the quota, and a RetryInfo with the wait. A per-day
 * quota stands for "quota exhausted" (no quick retry helps), a per-minute one for a rate limit.
 */
function resourceExhausted({ retryAfterSeconds, quotaExhausted }: ErrorOptions): SimulatedError {
  const quotaId = quotaExhausted
    ? 'PredictLongRunningRequestsPerDayPerProjectPerModel'
    : 'PredictLongRunningRequestsPerMinutePerProjectPerModel';
  const details: unknown[] = [
    {
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [
        {
          quotaMetric: 'generativelanguage.googleapis.com/predict_long_running_requests',
          quotaId,
          quotaValue: quotaExhausted ? '100' : '10',
        },
      ],
    },
    {
      '@type': 'type.googleapis.com/google.rpc.Help',
      links: [
        {
          description: 'Learn more about Gemini API quotas',
          url: 'https://ai.google.dev/gemini-api/docs/rate-limits',
        },
      ],
    },
  ];
  if (retryAfterSeconds !== undefined) {
    details.push({
      '@type': 'type.googleapis.com/google.rpc.RetryInfo',
      retryDelay: `${retryAfterSeconds}s`,
    });
  }
  return googleError(
    429,
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
    details,
  );
}

/** The error for an injected status. Google has no 402 or 529: it says the same with 429 and 503. */
export function googleErrorFor(status: number, options: ErrorOptions): SimulatedError {
  if (status === 402) return resourceExhausted({ ...options, quotaExhausted: true });
  if (status === 429) return resourceExhausted(options);
  if (status === 529) return googleError(503, options.message);
  return googleError(status, options.message);
}

const API_KEY_INVALID = 'API key not valid. Please pass a valid API key.';

/** A missing key is a 403; a wrong one is a 400 (not 401) with reason API_KEY_INVALID. */
export function apiKeyRefused(key: string | undefined): SimulatedError {
  if (key === undefined) {
    return googleError(
      403,
      "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    );
  }
  return googleError(400, API_KEY_INVALID, [
    errorInfo('API_KEY_INVALID', 'generativelanguage.googleapis.com'),
    {
      '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
      locale: 'en-US',
      message: API_KEY_INVALID,
    },
  ]);
}

/** An unknown or expired OAuth access token on Vertex. */
export function accessTokenRefused(): SimulatedError {
  return googleError(401, undefined, [errorInfo('ACCESS_TOKEN_EXPIRED', 'aiplatform.googleapis.com')]);
}

export function permissionDenied(project: string, location: string, model: string): SimulatedError {
  return googleError(
    403,
    `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${project}/locations/${location}/publishers/google/models/${model}' (or it may not exist).`,
    [errorInfo('IAM_PERMISSION_DENIED', 'aiplatform.googleapis.com')],
  );
}
