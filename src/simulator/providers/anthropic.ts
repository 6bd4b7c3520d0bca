import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { JobStore } from '../jobs.ts';
import { countTokens, simulatedReply } from '../text.ts';
import type { ErrorOptions, ProviderSimulation, Route, RouteContext, SimulatedError } from '../types.ts';

/**
 * The simulated Anthropic API (`/v1/models`, `/v1/messages` plain and streamed, `/v1/messages/count_tokens`)
 * with Anthropic's wire format: named SSE events with cumulative usage, the error envelope, `request-id`
 * and `anthropic-ratelimit-*` headers, prompt caching and extended thinking with deterministic counts.
 */
export const ANTHROPIC_SIMULATOR_KEY = 'sk-test-anthropic-simulator';

/**
 * API versions the simulator speaks: 2023-06-01, which our adapter pins, and 2026-10-21, which the 1.x SDK
 * sends (with the key as `Authorization: Bearer`). The wire format below is the same for both.
 */
const API_VERSIONS: ReadonlySet<string> = new Set(['2023-06-01', '2026-10-21']);

interface SimulatedModel {
  id: string;
  display_name: string;
  created_at: string;
  max_input_tokens: number;
  max_tokens: number;
}

export const anthropicSimulatedModels: readonly SimulatedModel[] = [
  ['claude-opus-4-8', 'Claude Opus 4.8', '2026-06-10T00:00:00Z', 128_000],
  ['claude-opus-4-7', 'Claude Opus 4.7', '2026-04-15T00:00:00Z', 128_000],
  ['claude-opus-4-6', 'Claude Opus 4.6', '2026-02-05T00:00:00Z', 128_000],
  ['claude-sonnet-4-6', 'Claude Sonnet 4.6', '2026-02-17T00:00:00Z', 64_000],
  ['claude-opus-4-5', 'Claude Opus 4.5', '2025-11-24T00:00:00Z', 64_000],
  ['claude-haiku-4-5', 'Claude Haiku 4.5', '2025-10-15T00:00:00Z', 64_000],
  ['claude-sonnet-4-5', 'Claude Sonnet 4.5', '2025-09-29T00:00:00Z', 64_000],
  ['claude-opus-4-1', 'Claude Opus 4.1', '2025-08-05T00:00:00Z', 32_000],
].map(([id, display_name, created_at, max_tokens]) => ({
  id: String(id),
  display_name: String(display_name),
  created_at: String(created_at),
  max_input_tokens: 200_000,
  max_tokens: Number(max_tokens),
}));

/** Anthropic caches a prefix only from a model-dependent minimum length (1024 to 4096 tokens). */
const MINIMUM_CACHEABLE_TOKENS = 1024;

const THINKING_TEXT =
  'The user wants a short reply. I will answer plainly and keep it brief, as the simulator always does.';

function randomId(prefix: string): string {
  return `${prefix}${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/** RFC 3339 to the second, as Anthropic writes its reset headers. */
function rfc3339(milliseconds: number): string {
  return new Date(milliseconds).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The `anthropic-ratelimit-*` headers. A limited (429) response shows the request budget spent until its
 * reset, and a `retry-after` in whole seconds when the fault gives a wait.
 */
function rateLimitHeaders({
  limited = false,
  retryAfterSeconds,
}: {
  limited?: boolean;
  retryAfterSeconds?: number;
} = {}) {
  const now = Date.now();
  const headers: Record<string, string> = {};
  const limits = { requests: 1000, tokens: 2_000_000, 'input-tokens': 1_600_000, 'output-tokens': 400_000 };
  for (const [name, limit] of Object.entries(limits)) {
    const exhausted = limited && name === 'requests';
    headers[`anthropic-ratelimit-${name}-limit`] = String(limit);
    headers[`anthropic-ratelimit-${name}-remaining`] = String(exhausted ? 0 : limit - 1);
    headers[`anthropic-ratelimit-${name}-reset`] = rfc3339(
      now + (exhausted ? (retryAfterSeconds ?? 60) * 1000 : 60_000),
    );
  }
  if (limited && retryAfterSeconds !== undefined)
    headers['retry-after'] = String(Math.ceil(retryAfterSeconds));
  return headers;
}

function anthropicError(
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): SimulatedError {
  const requestId = randomId('req_');
  return {
    status,
    headers: { 'request-id': requestId, ...headers },
    body: { type: 'error', error: { type, message }, request_id: requestId },
  };
}

function injectedError(status: number, options: ErrorOptions): SimulatedError {
  switch (status) {
    case 400:
      return anthropicError(400, 'invalid_request_error', options.message ?? 'Invalid request');
    case 401:
      return anthropicError(401, 'authentication_error', 'invalid x-api-key');
    case 402:
      return anthropicError(
        402,
        'billing_error',
        'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
      );
    case 403:
      return anthropicError(
        403,
        'permission_error',
        'Your API key does not have permission to use the specified resource.',
      );
    case 404:
      return anthropicError(404, 'not_found_error', options.message ?? 'Not Found');
    case 429:
      // Exhausted credit has long come back as a 400 with this message (402 billing_error is the newer form).
      if (options.quotaExhausted) {
        return anthropicError(
          400,
          'invalid_request_error',
          'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.',
        );
      }
      return anthropicError(
        429,
        'rate_limit_error',
        'This request would exceed the rate limit for your organization of 1,000 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.',
        rateLimitHeaders({
          limited: true,
          ...(options.retryAfterSeconds === undefined
            ? {}
            : { retryAfterSeconds: options.retryAfterSeconds }),
        }),
      );
    case 504:
      return anthropicError(504, 'timeout_error', 'Request timed out');
    case 529:
      return anthropicError(529, 'overloaded_error', 'Overloaded');
    default:
      return anthropicError(status, 'api_error', options.message ?? 'Internal server error');
  }
}

const cacheControl = z.looseObject({ type: z.string(), ttl: z.string().optional() }).nullish();
const block = z.looseObject({ type: z.string(), text: z.string().optional(), cache_control: cacheControl });
const content = z.union([z.string(), z.array(block)]);

const messagesRequest = z.looseObject({
  model: z.string(),
  max_tokens: z.number().int().min(1),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content })).min(1),
  system: content.optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  thinking: z
    .looseObject({
      type: z.enum(['enabled', 'disabled', 'adaptive']),
      budget_tokens: z.number().int().min(1024).optional(),
    })
    .optional(),
});

const countTokensRequest = messagesRequest.omit({ max_tokens: true, stream: true });

type MessagesRequest = z.infer<typeof messagesRequest>;

function invalidRequest(error: z.ZodError): SimulatedError {
  const issue = error.issues[0];
  const path = issue?.path.join('.') || 'body';
  const missing = issue?.code === 'invalid_type' && /received undefined/.test(issue.message);
  return anthropicError(
    400,
    'invalid_request_error',
    `${path}: ${missing ? 'Field required' : (issue?.message ?? 'invalid')}`,
  );
}

interface Segment {
  text: string;
  cached: boolean;
  ttl: string;
}

function segmentsOf(value: z.infer<typeof content> | undefined): Segment[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [{ text: value, cached: false, ttl: '5m' }];
  return value.map((part) => ({
    text: part.text ?? '',
    cached: Boolean(part.cache_control),
    ttl: part.cache_control?.ttl ?? '5m',
  }));
}

/**
 * Prompt caches live as long as the simulator that holds them: keyed by its job store (one per running
 * simulator), so two simulators in one process never share a cache.
 */
const caches = new WeakMap<JobStore, Set<string>>();

interface PromptCount {
  input: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWriteTtl: string;
}

/** Counts the prompt; the prefix up to the last cache_control breakpoint is written once, then read. */
function countPrompt(
  request: Pick<MessagesRequest, 'model' | 'messages' | 'system'>,
  context: RouteContext,
  cache: boolean,
): PromptCount {
  const segments = [
    ...segmentsOf(request.system),
    ...request.messages.flatMap((message) => segmentsOf(message.content)),
  ];
  const total = countTokens(segments.map((segment) => segment.text).join('\n'));
  const breakpoint = segments.findLastIndex((segment) => segment.cached);
  const none = { input: total, cacheRead: 0, cacheWrite: 0, cacheWriteTtl: '5m' };
  if (!cache || breakpoint < 0) return none;
  const prefix = segments
    .slice(0, breakpoint + 1)
    .map((segment) => segment.text)
    .join('\n');
  const prefixTokens = countTokens(prefix);
  if (prefixTokens < MINIMUM_CACHEABLE_TOKENS) return none;
  const seen = caches.get(context.jobs) ?? new Set<string>();
  caches.set(context.jobs, seen);
  const entry = createHash('sha256').update(`${context.key}\n${request.model}\n${prefix}`).digest('hex');
  const hit = seen.has(entry);
  seen.add(entry);
  return {
    input: Math.max(0, total - prefixTokens),
    cacheRead: hit ? prefixTokens : 0,
    cacheWrite: hit ? 0 : prefixTokens,
    cacheWriteTtl: segments[breakpoint]?.ttl ?? '5m',
  };
}

function lastUserText(request: MessagesRequest): string {
  const last = request.messages.findLast((message) => message.role === 'user');
  return segmentsOf(last?.content)
    .map((segment) => segment.text)
    .join(' ');
}

interface Reply {
  id: string;
  model: string;
  prompt: PromptCount;
  thinking: string | undefined;
  thinkingTokens: number;
  chunks: string[];
  outputTokens: number;
  stopReason: 'end_turn' | 'max_tokens';
}

function compose(request: MessagesRequest, context: RouteContext): Reply {
  const thinkingOn = request.thinking?.type === 'enabled' || request.thinking?.type === 'adaptive';
  const thinkingTokens = thinkingOn
    ? Math.min(countTokens(THINKING_TEXT), request.thinking?.budget_tokens ?? Number.POSITIVE_INFINITY)
    : 0;
  const budget = Math.max(1, request.max_tokens - thinkingTokens);
  const prompt = lastUserText(request);
  const chunks = simulatedReply(prompt, budget);
  const complete = simulatedReply(prompt, Number.MAX_SAFE_INTEGER);
  const textTokens = Math.min(budget, countTokens(chunks.join('')));
  return {
    id: randomId('msg_'),
    model: request.model,
    prompt: countPrompt(request, context, true),
    thinking: thinkingOn ? THINKING_TEXT : undefined,
    thinkingTokens,
    chunks,
    outputTokens: thinkingTokens + textTokens,
    stopReason: chunks.length < complete.length ? 'max_tokens' : 'end_turn',
  };
}

function usageOf(reply: Reply, outputTokens: number) {
  const write = reply.prompt.cacheWrite;
  return {
    input_tokens: reply.prompt.input,
    cache_creation_input_tokens: write,
    cache_read_input_tokens: reply.prompt.cacheRead,
    cache_creation: {
      ephemeral_5m_input_tokens: reply.prompt.cacheWriteTtl === '1h' ? 0 : write,
      ephemeral_1h_input_tokens: reply.prompt.cacheWriteTtl === '1h' ? write : 0,
    },
    output_tokens: outputTokens,
    output_tokens_details: { thinking_tokens: reply.thinkingTokens },
    service_tier: 'standard',
  };
}

function startUsage(reply: Reply) {
  const { output_tokens_details: _details, ...usage } = usageOf(reply, 1);
  return usage;
}

function frame(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The frames of a streamed message, in the order and shape Anthropic sends them. */
function* streamFrames(reply: Reply): Generator<string> {
  yield frame('message_start', {
    type: 'message_start',
    message: {
      id: reply.id,
      type: 'message',
      role: 'assistant',
      content: [],
      model: reply.model,
      stop_reason: null,
      stop_sequence: null,
      // message_start reports the input side; output counts only arrive, cumulatively, in message_delta.
      usage: startUsage(reply),
    },
  });
  let index = 0;
  if (reply.thinking !== undefined) {
    yield frame('content_block_start', {
      type: 'content_block_start',
      index,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    });
    yield frame('content_block_delta', {
      type: 'content_block_delta',
      index,
      delta: { type: 'thinking_delta', thinking: reply.thinking },
    });
    yield frame('content_block_delta', {
      type: 'content_block_delta',
      index,
      delta: { type: 'signature_delta', signature: signatureOf(reply) },
    });
    yield frame('content_block_stop', { type: 'content_block_stop', index });
    index += 1;
  }
  yield frame('content_block_start', {
    type: 'content_block_start',
    index,
    content_block: { type: 'text', text: '' },
  });
  yield frame('ping', { type: 'ping' });
  for (const chunk of reply.chunks) {
    yield frame('content_block_delta', {
      type: 'content_block_delta',
      index,
      delta: { type: 'text_delta', text: chunk },
    });
  }
  yield frame('content_block_stop', { type: 'content_block_stop', index });
  const usage = usageOf(reply, reply.outputTokens);
  yield frame('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: reply.stopReason, stop_sequence: null },
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      output_tokens: usage.output_tokens,
      output_tokens_details: usage.output_tokens_details,
    },
  });
  yield frame('message_stop', { type: 'message_stop' });
}

function signatureOf(reply: Reply): string {
  return createHash('sha256')
    .update(`${reply.id}:${reply.thinking ?? ''}`)
    .digest('base64');
}

const STREAM_ERROR_FRAME = frame('error', {
  type: 'error',
  error: { type: 'overloaded_error', message: 'Overloaded' },
});

/** Every real request needs the version header; the official SDKs always send it. */
function versionProblem(context: RouteContext): SimulatedError | undefined {
  const version = context.request.headers['anthropic-version'];
  if (version === undefined) {
    return anthropicError(400, 'invalid_request_error', 'anthropic-version: header is required');
  }
  if (typeof version !== 'string' || !API_VERSIONS.has(version)) {
    return anthropicError(
      400,
      'invalid_request_error',
      `anthropic-version: invalid version ${String(version)}`,
    );
  }
  return undefined;
}

function successHeaders(): Record<string, string> {
  return { 'request-id': randomId('req_'), ...rateLimitHeaders() };
}

function modelNotFound(model: string): SimulatedError {
  return anthropicError(404, 'not_found_error', `model: ${model}`);
}

const routes: Route[] = [
  {
    method: 'GET',
    path: '/v1/models',
    handle(context) {
      const problem = versionProblem(context);
      if (problem) return context.sendError(problem);
      const limit = Math.min(1000, Math.max(1, Number(context.query.get('limit') ?? 20) || 20));
      const afterId = context.query.get('after_id');
      const beforeId = context.query.get('before_id');
      let models = [...anthropicSimulatedModels];
      if (afterId) models = models.slice(models.findIndex((model) => model.id === afterId) + 1);
      if (beforeId)
        models = models.slice(
          0,
          Math.max(
            0,
            models.findIndex((model) => model.id === beforeId),
          ),
        );
      const page = (beforeId ? models.slice(-limit) : models.slice(0, limit)).map((model) => ({
        type: 'model',
        ...model,
      }));
      context.send(
        200,
        {
          data: page,
          has_more: page.length < models.length,
          first_id: page[0]?.id ?? null,
          last_id: page.at(-1)?.id ?? null,
        },
        successHeaders(),
      );
    },
  },
  {
    method: 'GET',
    path: '/v1/models/:model',
    handle(context) {
      const problem = versionProblem(context);
      if (problem) return context.sendError(problem);
      const model = anthropicSimulatedModels.find((candidate) => candidate.id === context.params.model);
      if (!model) return context.sendError(modelNotFound(context.params.model ?? ''));
      context.send(200, { type: 'model', ...model }, successHeaders());
    },
  },
  {
    method: 'POST',
    path: '/v1/messages/count_tokens',
    handle(context) {
      const problem = versionProblem(context);
      if (problem) return context.sendError(problem);
      const parsed = countTokensRequest.safeParse(context.json);
      if (!parsed.success) return context.sendError(invalidRequest(parsed.error));
      if (!anthropicSimulatedModels.some((model) => model.id === parsed.data.model)) {
        return context.sendError(modelNotFound(parsed.data.model));
      }
      const prompt = countPrompt(parsed.data, context, false);
      context.send(200, { input_tokens: prompt.input }, successHeaders());
    },
  },
  {
    method: 'POST',
    path: '/v1/messages',
    async handle(context) {
      const problem = versionProblem(context);
      if (problem) return context.sendError(problem);
      const parsed = messagesRequest.safeParse(context.json);
      if (!parsed.success) return context.sendError(invalidRequest(parsed.error));
      const request = parsed.data;
      if (!anthropicSimulatedModels.some((model) => model.id === request.model)) {
        return context.sendError(modelNotFound(request.model));
      }
      const budget = request.thinking?.budget_tokens;
      if (request.thinking?.type === 'enabled' && (budget === undefined || request.max_tokens <= budget)) {
        return context.sendError(
          anthropicError(
            400,
            'invalid_request_error',
            budget === undefined
              ? 'thinking.enabled.budget_tokens: Field required'
              : '`max_tokens` must be greater than `thinking.budget_tokens`.',
          ),
        );
      }
      const reply = compose(request, context);
      if (request.stream) {
        await context.stream(streamFrames(reply), {
          errorFrame: STREAM_ERROR_FRAME,
          headers: successHeaders(),
        });
        return;
      }
      const contentBlocks: unknown[] = [];
      if (reply.thinking !== undefined) {
        contentBlocks.push({ type: 'thinking', thinking: reply.thinking, signature: signatureOf(reply) });
      }
      contentBlocks.push({ type: 'text', text: reply.chunks.join('') });
      context.send(
        200,
        {
          id: reply.id,
          type: 'message',
          role: 'assistant',
          model: reply.model,
          content: contentBlocks,
          stop_reason: reply.stopReason,
          stop_sequence: null,
          usage: usageOf(reply, reply.outputTokens),
        },
        successHeaders(),
      );
    },
  },
];

export const anthropicSimulation: ProviderSimulation = {
  id: 'anthropic',
  prefix: '/anthropic',
  sdkBasePath: '',
  defaultKeys: [ANTHROPIC_SIMULATOR_KEY],
  // `x-api-key` is how the 0.x SDKs (and our adapter) send the key; the 1.x SDK sends it as a bearer token.
  extractKey(request) {
    const key = request.headers['x-api-key'];
    if (typeof key === 'string' && key !== '') return key;
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    return bearer?.[1];
  },
  // The body the reference recorded for a bad x-api-key; a bad bearer key gets the same one here.
  unauthorized(key) {
    return anthropicError(
      401,
      'authentication_error',
      key === undefined ? 'x-api-key header is required' : 'invalid x-api-key',
    );
  },
  error: injectedError,
  routes,
};
