import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { JobStore } from '../jobs.ts';
import { countTokens, simulatedReply } from '../text.ts';
import type { ErrorOptions, ProviderSimulation, Route, RouteContext, SimulatedError } from '../types.ts';

/**
 * The simulated Gemini API (`/v1beta/models`, `:generateContent`, `:streamGenerateContent`, `:countTokens`,
 * also under `/v1`) with Google's wire format: `google.rpc.Status` errors (an invalid key is a 400
 * API_KEY_INVALID), SSE chunks with running usageMetadata and no terminator, thinking tokens that count
 * against maxOutputTokens, and implicit prompt caching, all with deterministic counts.
 */
export const GOOGLE_GEMINI_SIMULATOR_KEY = 'test-gemini-simulator-key';

type ThinkingMode = 'always' | 'default-on' | 'default-off' | 'none';

interface SimulatedModel {
  id: string;
  displayName: string;
  thinking: ThinkingMode;
  /** Implicit caching applies from this many prompt tokens; 0 means the model has none. */
  implicitCacheMinimum: number;
}

export const geminiSimulatedModels: readonly SimulatedModel[] = [
  { id: 'gemini-2.5-pro', displayName: 'Gemini 2.5 Pro', thinking: 'always', implicitCacheMinimum: 2048 },
  {
    id: 'gemini-2.5-flash',
    displayName: 'Gemini 2.5 Flash',
    thinking: 'default-on',
    implicitCacheMinimum: 1024,
  },
  {
    id: 'gemini-2.5-flash-lite',
    displayName: 'Gemini 2.5 Flash-Lite',
    thinking: 'default-off',
    implicitCacheMinimum: 1024,
  },
  { id: 'gemini-2.0-flash', displayName: 'Gemini 2.0 Flash', thinking: 'none', implicitCacheMinimum: 0 },
];

/** What a thinking model spends on thoughts when the request does not cap it (a recorded reply had 20). */
const DEFAULT_THOUGHT_TOKENS = 20;
const THOUGHT_SUMMARY = 'The user wants a short answer; I will reply briefly.';
/** Real streams carry a few words per event, not one. */
const WORDS_PER_CHUNK = 4;

function modelResource(model: SimulatedModel) {
  return {
    name: `models/${model.id}`,
    version: model.id.replace(/^gemini-/, '').replace(/-.*$/, ''),
    displayName: model.displayName,
    description: `${model.displayName}, simulated by Keyhaven`,
    inputTokenLimit: 1_048_576,
    outputTokenLimit: model.thinking === 'none' ? 8192 : 65_536,
    supportedGenerationMethods: [
      'generateContent',
      'countTokens',
      'createCachedContent',
      'batchGenerateContent',
    ],
    temperature: 1,
    topP: 0.95,
    topK: 64,
    maxTemperature: 2,
    thinking: model.thinking !== 'none',
  };
}

function googleError(code: number, status: string, message: string, details?: unknown[]): SimulatedError {
  return { status: code, body: { error: { code, message, status, ...(details ? { details } : {}) } } };
}

const QUOTA_MESSAGE =
  'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.';

function retryInfo(retryAfterSeconds: number | undefined): unknown[] {
  return retryAfterSeconds === undefined
    ? []
    : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterSeconds}s` }];
}

/** A 429: a per-minute limit with a RetryInfo, or (quotaExhausted) the free tier's daily allowance spent. */
function resourceExhausted(options: ErrorOptions): SimulatedError {
  const daily = options.quotaExhausted === true;
  return googleError(429, 'RESOURCE_EXHAUSTED', QUOTA_MESSAGE, [
    {
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [
        {
          quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
          quotaId: daily
            ? 'GenerateRequestsPerDayPerProjectPerModel-FreeTier'
            : 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
          quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' },
          quotaValue: daily ? '250' : '10',
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
    ...retryInfo(options.retryAfterSeconds),
  ]);
}

function injectedError(status: number, options: ErrorOptions): SimulatedError {
  switch (status) {
    case 400:
      return googleError(400, 'INVALID_ARGUMENT', options.message ?? 'Request contains an invalid argument.');
    case 401:
      return googleError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    // Google has no 402: an account out of quota is a 429 whose QuotaFailure names the daily allowance.
    case 402:
      return resourceExhausted({ ...options, quotaExhausted: true });
    case 403:
      return googleError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    case 404:
      return googleError(404, 'NOT_FOUND', options.message ?? 'Requested entity was not found.');
    case 429:
      return resourceExhausted(options);
    case 500:
      return googleError(
        500,
        'INTERNAL',
        'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
      );
    case 504:
      return googleError(504, 'DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.');
    // Google never answers 529: an overloaded Gemini model is a 503 UNAVAILABLE.
    default:
      return googleError(
        status === 529 ? 503 : status,
        'UNAVAILABLE',
        'The model is overloaded. Please try again later.',
        retryInfo(options.retryAfterSeconds),
      );
  }
}

function unauthorized(key: string | undefined): SimulatedError {
  if (key === undefined) {
    return googleError(
      403,
      'PERMISSION_DENIED',
      "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    );
  }
  // A suspended consumer's error names the key itself, as Google's does: a good test of redaction.
  if (key.includes('suspended')) {
    return googleError(
      403,
      'PERMISSION_DENIED',
      `Permission denied: Consumer 'api_key:${key}' has been suspended.`,
      [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'CONSUMER_SUSPENDED',
          domain: 'googleapis.com',
          metadata: { service: 'generativelanguage.googleapis.com', consumer: 'projects/000000000000' },
        },
      ],
    );
  }
  return googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'API_KEY_INVALID',
      domain: 'googleapis.com',
      metadata: { service: 'generativelanguage.googleapis.com' },
    },
    {
      '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
      locale: 'en-US',
      message: 'API key not valid. Please pass a valid API key.',
    },
  ]);
}

const part = z.looseObject({ text: z.string().optional(), thought: z.boolean().optional() });
const generateRequest = z.looseObject({
  contents: z
    .array(z.looseObject({ role: z.enum(['user', 'model']).optional(), parts: z.array(part) }))
    .min(1),
  systemInstruction: z.looseObject({ parts: z.array(part) }).optional(),
  generationConfig: z
    .looseObject({
      maxOutputTokens: z.number().int().min(1).optional(),
      temperature: z.number().min(0).max(2).optional(),
      thinkingConfig: z
        .looseObject({
          thinkingBudget: z.number().int().min(-1).optional(),
          includeThoughts: z.boolean().optional(),
        })
        .optional(),
    })
    .optional(),
});

type GenerateRequest = z.infer<typeof generateRequest>;

function invalidArgument(error: z.ZodError, headers?: Record<string, string>): SimulatedError {
  const issue = error.issues[0];
  const path = issue?.path.join('.') || 'body';
  const missing = issue?.code === 'invalid_type' && /received undefined/.test(issue.message);
  return {
    ...googleError(
      400,
      'INVALID_ARGUMENT',
      `* GenerateContentRequest.${path}: ${missing ? `${path} is not specified` : (issue?.message ?? 'invalid')}\n`,
    ),
    ...(headers ? { headers } : {}),
  };
}

/** Implicit caches live as long as their simulator (one job store each), never across simulators. */
const caches = new WeakMap<JobStore, Set<string>>();

interface PromptCount {
  prompt: number;
  cached: number;
}

/**
 * Implicit caching: a request whose leading system instruction and contents were all sent before (with
 * the same key and model) gets them as cachedContentTokenCount, once they reach the model's minimum.
 */
function countPrompt(
  request: GenerateRequest,
  model: SimulatedModel,
  context: RouteContext,
  remember: boolean,
): PromptCount {
  const segments = [
    ...(request.systemInstruction
      ? [request.systemInstruction.parts.map((entry) => entry.text ?? '').join('\n')]
      : []),
    ...request.contents.map((content) => content.parts.map((entry) => entry.text ?? '').join('\n')),
  ];
  const prompt = countTokens(segments.join('\n'));
  if (model.implicitCacheMinimum === 0) return { prompt, cached: 0 };
  const seen = caches.get(context.jobs) ?? new Set<string>();
  caches.set(context.jobs, seen);
  const hash = createHash('sha256').update(`${context.key}\n${model.id}`);
  let cached = 0;
  let tokens = 0;
  const prefixes: string[] = [];
  for (const segment of segments) {
    hash.update(`\n${segment}`);
    tokens += countTokens(segment);
    const prefix = hash.copy().digest('hex');
    prefixes.push(prefix);
    if (seen.has(prefix) && tokens >= model.implicitCacheMinimum) cached = tokens;
  }
  if (remember) for (const prefix of prefixes) seen.add(prefix);
  return { prompt, cached: Math.min(cached, prompt) };
}

function thoughtBudget(request: GenerateRequest, model: SimulatedModel): number | SimulatedError {
  const budget = request.generationConfig?.thinkingConfig?.thinkingBudget;
  if (model.thinking === 'none') return 0;
  if (budget === 0) {
    return model.thinking === 'always'
      ? googleError(400, 'INVALID_ARGUMENT', 'Budget 0 is invalid. This model only works in thinking mode.')
      : 0;
  }
  if (budget === undefined) return model.thinking === 'default-off' ? 0 : DEFAULT_THOUGHT_TOKENS;
  if (budget === -1) return DEFAULT_THOUGHT_TOKENS;
  return Math.min(budget, DEFAULT_THOUGHT_TOKENS);
}

interface Reply {
  responseId: string;
  model: string;
  prompt: PromptCount;
  thoughts: number;
  thoughtSummary: string | undefined;
  chunks: string[];
  /** Running candidate token counts, one per chunk. */
  candidateTokens: number[];
  finishReason: 'STOP' | 'MAX_TOKENS';
}

function compose(
  request: GenerateRequest,
  model: SimulatedModel,
  context: RouteContext,
): Reply | SimulatedError {
  const budget = thoughtBudget(request, model);
  if (typeof budget !== 'number') return budget;
  const maxOutput = request.generationConfig?.maxOutputTokens ?? Number.MAX_SAFE_INTEGER;
  // On Gemini 2.5 thoughts count against maxOutputTokens: a small limit can leave nothing for the answer.
  const thoughts = Math.min(budget, maxOutput);
  const room = maxOutput - thoughts;
  const lastUser = request.contents.findLast((content) => content.role !== 'model');
  const prompt = lastUser?.parts.map((entry) => entry.text ?? '').join(' ') ?? '';
  const complete = simulatedReply(prompt, Number.MAX_SAFE_INTEGER);
  const chunks = room > 0 ? simulatedReply(prompt, room) : [];
  const candidateTokens: number[] = [];
  let running = 0;
  for (const chunk of chunks) {
    running = Math.min(room, running + countTokens(chunk));
    candidateTokens.push(running);
  }
  return {
    responseId: randomBytes(16).toString('base64url'),
    model: model.id,
    prompt: countPrompt(request, model, context, true),
    thoughts,
    thoughtSummary:
      thoughts > 0 && request.generationConfig?.thinkingConfig?.includeThoughts ? THOUGHT_SUMMARY : undefined,
    chunks,
    candidateTokens,
    finishReason: chunks.length < complete.length ? 'MAX_TOKENS' : 'STOP',
  };
}

function usageMetadata(reply: Reply, candidates: number) {
  return {
    promptTokenCount: reply.prompt.prompt,
    // A reply with no text part reports no candidatesTokenCount at all (recorded MAX_TOKENS replies).
    ...(candidates > 0 ? { candidatesTokenCount: candidates } : {}),
    totalTokenCount: reply.prompt.prompt + candidates + reply.thoughts,
    ...(reply.prompt.cached > 0 ? { cachedContentTokenCount: reply.prompt.cached } : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: reply.prompt.prompt }],
    ...(reply.prompt.cached > 0
      ? { cacheTokensDetails: [{ modality: 'TEXT', tokenCount: reply.prompt.cached }] }
      : {}),
    ...(reply.thoughts > 0 ? { thoughtsTokenCount: reply.thoughts } : {}),
  };
}

function response(reply: Reply, parts: unknown[], candidates: number, finished: boolean) {
  return {
    candidates: [
      {
        content: parts.length > 0 ? { parts, role: 'model' } : { role: 'model' },
        ...(finished ? { finishReason: reply.finishReason } : {}),
        index: 0,
      },
    ],
    usageMetadata: usageMetadata(reply, candidates),
    modelVersion: reply.model,
    responseId: reply.responseId,
  };
}

function thoughtParts(reply: Reply): unknown[] {
  return reply.thoughtSummary === undefined ? [] : [{ text: reply.thoughtSummary, thought: true }];
}

function wholeResponse(reply: Reply) {
  const text = reply.chunks.join('');
  const parts = [...thoughtParts(reply), ...(text ? [{ text }] : [])];
  return response(reply, parts, reply.candidateTokens.at(-1) ?? 0, true);
}

/** The chunks of a streamed reply: a few words each, running usage in every one, finishReason in the last. */
function streamChunks(reply: Reply) {
  const groups: { text: string; tokens: number }[] = [];
  for (let index = 0; index < reply.chunks.length; index += WORDS_PER_CHUNK) {
    const end = Math.min(reply.chunks.length, index + WORDS_PER_CHUNK);
    groups.push({
      text: reply.chunks.slice(index, end).join(''),
      tokens: reply.candidateTokens[end - 1] ?? 0,
    });
  }
  if (groups.length === 0) return [response(reply, thoughtParts(reply), 0, true)];
  return groups.map((group, index) =>
    response(
      reply,
      [...(index === 0 ? thoughtParts(reply) : []), { text: group.text }],
      group.tokens,
      index === groups.length - 1,
    ),
  );
}

const STREAM_ERROR_FRAME = `data: ${JSON.stringify({
  error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' },
})}\r\n\r\n`;

/** Errors on a stream URL are plain JSON bodies, but Google labels them text/event-stream (recorded). */
const STREAM_ERROR_HEADERS = { 'content-type': 'text/event-stream' };

function modelNotFound(
  id: string,
  version: string,
  method: string,
  headers?: Record<string, string>,
): SimulatedError {
  return {
    ...googleError(
      404,
      'NOT_FOUND',
      `models/${id} is not found for API version ${version}, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
    ),
    ...(headers ? { headers } : {}),
  };
}

function findModel(id: string | undefined): SimulatedModel | undefined {
  return geminiSimulatedModels.find((model) => model.id === id);
}

function versionRoutes(version: string): Route[] {
  const generate =
    (method: 'generateContent' | 'streamGenerateContent') =>
    async (context: RouteContext): Promise<void> => {
      const streaming = method === 'streamGenerateContent';
      const errorHeaders = streaming ? STREAM_ERROR_HEADERS : undefined;
      const model = findModel(context.params.model);
      if (!model)
        return context.sendError(modelNotFound(context.params.model ?? '', version, method, errorHeaders));
      const parsed = generateRequest.safeParse(context.json);
      if (!parsed.success) return context.sendError(invalidArgument(parsed.error, errorHeaders));
      const reply = compose(parsed.data, model, context);
      if (!('responseId' in reply))
        return context.sendError({ ...reply, ...(errorHeaders ? { headers: errorHeaders } : {}) });
      if (!streaming) return context.send(200, wholeResponse(reply));
      const chunks = streamChunks(reply);
      // Without alt=sse the API streams one JSON array instead of events.
      if (context.query.get('alt') !== 'sse') return context.send(200, chunks);
      await context.stream(
        chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\r\n\r\n`),
        { errorFrame: STREAM_ERROR_FRAME },
      );
    };
  return [
    {
      method: 'GET',
      path: `/${version}/models`,
      handle(context) {
        const pageSize = Math.min(1000, Math.max(1, Number(context.query.get('pageSize') ?? 50) || 50));
        const offset =
          Number(Buffer.from(context.query.get('pageToken') ?? '', 'base64url').toString() || 0) || 0;
        const models = geminiSimulatedModels.slice(offset, offset + pageSize).map(modelResource);
        const next = offset + pageSize;
        context.send(200, {
          models,
          ...(next < geminiSimulatedModels.length
            ? { nextPageToken: Buffer.from(String(next)).toString('base64url') }
            : {}),
        });
      },
    },
    {
      method: 'GET',
      path: `/${version}/models/:model`,
      handle(context) {
        const model = findModel(context.params.model);
        if (!model) return context.sendError(modelNotFound(context.params.model ?? '', version, 'get'));
        context.send(200, modelResource(model));
      },
    },
    {
      method: 'POST',
      path: `/${version}/models/:model:generateContent`,
      handle: generate('generateContent'),
    },
    {
      method: 'POST',
      path: `/${version}/models/:model:streamGenerateContent`,
      handle: generate('streamGenerateContent'),
    },
    {
      method: 'POST',
      path: `/${version}/models/:model:countTokens`,
      handle(context) {
        const model = findModel(context.params.model);
        if (!model)
          return context.sendError(modelNotFound(context.params.model ?? '', version, 'countTokens'));
        const parsed = generateRequest.safeParse(context.json);
        if (!parsed.success) return context.sendError(invalidArgument(parsed.error));
        const { prompt } = countPrompt(parsed.data, model, context, false);
        context.send(200, {
          totalTokens: prompt,
          promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
        });
      },
    },
  ];
}

export const googleGeminiSimulation: ProviderSimulation = {
  id: 'google-gemini',
  prefix: '/gemini',
  sdkBasePath: '',
  defaultKeys: [GOOGLE_GEMINI_SIMULATOR_KEY],
  // The header is what the SDK sends; `?key=` is what older clients send, and the real API takes both.
  extractKey(request, query) {
    const header = request.headers['x-goog-api-key'];
    if (typeof header === 'string' && header !== '') return header;
    return query.get('key') || undefined;
  },
  unauthorized,
  error: injectedError,
  routes: [...versionRoutes('v1beta'), ...versionRoutes('v1')],
};
