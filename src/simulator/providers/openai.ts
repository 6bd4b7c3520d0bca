import { createHash, randomBytes } from 'node:crypto';
import { countTokens, simulatedReply } from '../text.ts';
import type { ErrorOptions, ProviderSimulation, RouteContext, SimulatedError } from '../types.ts';
import {
  bearerKey,
  type ChatMessage,
  chatMessages,
  isObject,
  type Json,
  lastUserText,
  retryAfterHeader,
} from './chat-completions.ts';

/**
 * OpenAI as the simulator plays it, under /openai with the SDK base URL /openai/v1: models, chat
 * completions (JSON and SSE with the include_usage chunk), the real error bodies and rate-limit headers,
 * and the Videos API answering as it does since its shutdown on 2026-09-24.
 */
export const OPENAI_SIMULATOR_KEY = 'sk-test-openai-simulator';

const MODELS = [
  { id: 'gpt-4o', created: 1715367049, owned_by: 'system' },
  { id: 'gpt-4o-mini', created: 1721172741, owned_by: 'system' },
  { id: 'gpt-4.1', created: 1744316542, owned_by: 'system' },
  { id: 'gpt-4.1-mini', created: 1744318173, owned_by: 'system' },
  { id: 'gpt-4.1-nano', created: 1744321707, owned_by: 'system' },
  { id: 'gpt-5', created: 1754425777, owned_by: 'system' },
  { id: 'gpt-5-mini', created: 1754425928, owned_by: 'system' },
  { id: 'gpt-5-nano', created: 1754426384, owned_by: 'system' },
  { id: 'gpt-5-chat-latest', created: 1754073306, owned_by: 'system' },
  { id: 'o4-mini', created: 1744225351, owned_by: 'system' },
] as const;

/** Reasoning models think before they answer: a fixed count, so usage stays exact. */
const REASONING_TOKENS = 64;
/** Prompt caching starts at 1024 tokens and grows in steps of 128, as OpenAI documents it. */
const CACHE_MINIMUM = 1024;
const CACHE_STEP = 128;

const RATE_LIMIT_REQUESTS = 5000;
const RATE_LIMIT_TOKENS = 2_000_000;

function errorBody(message: string, type: string, code: string | null = null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

function baseHeaders(): Record<string, string> {
  return {
    'x-request-id': `req_${randomBytes(16).toString('hex')}`,
    'openai-version': '2020-10-01',
    'openai-processing-ms': '42',
  };
}

/** A wait as OpenAI writes it in headers and messages: 644ms, 1.5s, 6m0s. */
function formatWait(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${Number(seconds.toFixed(3))}s`;
  return `${Math.floor(seconds / 60)}m${Number((seconds % 60).toFixed(3))}s`;
}

function rateLimitHeaders(promptTokens: number): Record<string, string> {
  return {
    'x-ratelimit-limit-requests': String(RATE_LIMIT_REQUESTS),
    'x-ratelimit-limit-tokens': String(RATE_LIMIT_TOKENS),
    'x-ratelimit-remaining-requests': String(RATE_LIMIT_REQUESTS - 1),
    'x-ratelimit-remaining-tokens': String(RATE_LIMIT_TOKENS - promptTokens),
    'x-ratelimit-reset-requests': '12ms',
    'x-ratelimit-reset-tokens': '0s',
  };
}

/** The key as OpenAI echoes it in a 401: its first 8 and last 4 characters. */
function maskKey(key: string): string {
  return key.length >= 16 ? `${key.slice(0, 8)}***${key.slice(-4)}` : '***';
}

const API_KEYS_URL = 'https://platform.openai.com/account/api-keys';

function unauthorized(key: string | undefined): SimulatedError {
  if (key === undefined) {
    return {
      status: 401,
      headers: baseHeaders(),
      body: errorBody(
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        'invalid_request_error',
      ),
    };
  }
  return {
    status: 401,
    headers: baseHeaders(),
    body: errorBody(
      `Incorrect API key provided: ${maskKey(key)}. You can find your API key at ${API_KEYS_URL}.`,
      'invalid_request_error',
      'invalid_api_key',
    ),
  };
}

function rateLimited(options: ErrorOptions): SimulatedError {
  if (options.quotaExhausted) {
    return {
      status: 429,
      headers: baseHeaders(),
      body: errorBody(
        'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
        'insufficient_quota',
        'insufficient_quota',
      ),
    };
  }
  const seconds = options.retryAfterSeconds ?? 0.644;
  return {
    status: 429,
    headers: {
      ...baseHeaders(),
      'x-ratelimit-limit-requests': String(RATE_LIMIT_REQUESTS),
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': formatWait(seconds),
      'x-ratelimit-limit-tokens': String(RATE_LIMIT_TOKENS),
      'x-ratelimit-remaining-tokens': String(RATE_LIMIT_TOKENS),
      'x-ratelimit-reset-tokens': '0s',
      ...retryAfterHeader(options.retryAfterSeconds),
    },
    body: errorBody(
      options.message ??
        `Rate limit reached for gpt-4o-mini in organization org-simulator on requests per min (RPM): Limit ${RATE_LIMIT_REQUESTS}, Used ${RATE_LIMIT_REQUESTS}, Requested 1. Please try again in ${formatWait(seconds)}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      'requests',
      'rate_limit_exceeded',
    ),
  };
}

function error(status: number, options: ErrorOptions): SimulatedError {
  const headers = baseHeaders();
  switch (status) {
    case 401:
      return {
        status,
        headers,
        body: errorBody(
          options.message ??
            `Incorrect API key provided: sk-***. You can find your API key at ${API_KEYS_URL}.`,
          'invalid_request_error',
          'invalid_api_key',
        ),
      };
    case 403:
      return {
        status,
        headers,
        body: errorBody(
          options.message ?? 'Country, region, or territory not supported',
          'request_forbidden',
          'unsupported_country_region_territory',
        ),
      };
    case 404: {
      // The core reports an unknown route as "Unknown path <path>"; OpenAI says "Invalid URL (GET <path>)",
      // less the method here, which the core does not pass on.
      const unknown = /^Unknown path (.+)$/.exec(options.message ?? '');
      return {
        status,
        headers,
        body: errorBody(
          unknown ? `Invalid URL (${unknown[1]})` : (options.message ?? 'Not found'),
          'invalid_request_error',
        ),
      };
    }
    case 429:
      return rateLimited(options);
    case 500:
      return {
        status,
        headers,
        body: errorBody(
          options.message ?? 'The server had an error while processing your request. Sorry about that!',
          'server_error',
        ),
      };
    case 503:
      return {
        status,
        headers: {
          ...headers,
          ...retryAfterHeader(options.retryAfterSeconds),
        },
        body: errorBody(
          options.message ?? 'The engine is currently overloaded, please try again later.',
          'server_error',
        ),
      };
    default:
      return {
        status,
        headers,
        body: errorBody(
          options.message ?? (status >= 500 ? 'Bad gateway.' : 'Invalid request.'),
          status >= 500 ? 'server_error' : 'invalid_request_error',
        ),
      };
  }
}

function isReasoningModel(model: string): boolean {
  return /^(o\d|gpt-5)/.test(model) && !/-chat/.test(model);
}

/**
 * Prompt tokens counted the way OpenAI's cookbook counts them for chat models: 3 per message, its role,
 * its content, and 3 that prime the reply ("Say this is a test!" is 13, as in OpenAI's own example).
 */
function promptTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce(
    (sum, message) => sum + 3 + countTokens(message.role) + countTokens(message.text),
    3,
  );
}

function badRequest(context: RouteContext, message: string, code: string | null, param: string | null) {
  context.send(400, errorBody(message, 'invalid_request_error', code, param), baseHeaders());
}

/**
 * The prompt cache: a second request with the same 1024+ token prompt under the same key reads it
 * from cache. The simulator gives routes no store of their own; its job store is per server and
 * cleared by reset(), so cached prompts are kept there as finished entries.
 */
function cachedTokens(
  context: RouteContext,
  model: string,
  messages: readonly ChatMessage[],
  prompt: number,
) {
  if (prompt < CACHE_MINIMUM) return 0;
  const digest = createHash('sha256')
    .update(JSON.stringify([context.key, model, messages]))
    .digest('hex');
  const id = `openai-prompt-cache-${digest}`;
  if (context.jobs.get(id)) return Math.floor(prompt / CACHE_STEP) * CACHE_STEP;
  context.jobs.create({
    id,
    provider: 'openai',
    key: context.key ?? '',
    model,
    prompt: '',
    durationSeconds: 0,
    resolution: '',
    pollsToFinish: 1,
    fails: false,
  });
  return 0;
}

interface Completion {
  model: string;
  words: string[];
  finishReason: 'stop' | 'length';
  usage: Json;
  promptTokens: number;
}

/** Checks a chat request as OpenAI does and works out the reply; undefined when it answered an error. */
function complete(context: RouteContext): Completion | undefined {
  const body = context.json;
  if (!isObject(body)) {
    badRequest(
      context,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
      null,
      null,
    );
    return undefined;
  }
  const model = body.model;
  if (typeof model !== 'string' || model === '') {
    badRequest(context, 'you must provide a model parameter', null, null);
    return undefined;
  }
  if (!Array.isArray(body.messages)) {
    badRequest(context, "Missing required parameter: 'messages'.", 'missing_required_parameter', 'messages');
    return undefined;
  }
  if (body.messages.length === 0) {
    badRequest(
      context,
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'empty_array',
      'messages',
    );
    return undefined;
  }
  if (!MODELS.some((known) => known.id === model)) {
    context.send(
      404,
      errorBody(
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        'model_not_found',
      ),
      baseHeaders(),
    );
    return undefined;
  }
  const reasoning = isReasoningModel(model);
  if (reasoning && typeof body.temperature === 'number' && body.temperature !== 1) {
    badRequest(
      context,
      `Unsupported value: 'temperature' does not support ${body.temperature} with this model. Only the default (1) value is supported.`,
      'unsupported_value',
      'temperature',
    );
    return undefined;
  }
  if (reasoning && typeof body.max_tokens === 'number') {
    badRequest(
      context,
      "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
      'unsupported_parameter',
      'max_tokens',
    );
    return undefined;
  }
  const messages = chatMessages(body.messages);
  const limitValue = body.max_completion_tokens ?? body.max_tokens;
  const limit = typeof limitValue === 'number' && limitValue > 0 ? Math.floor(limitValue) : undefined;
  const reasoningTokens = reasoning ? Math.min(REASONING_TOKENS, limit ?? REASONING_TOKENS) : 0;
  const full = simulatedReply(lastUserText(messages), Number.MAX_SAFE_INTEGER);
  const visibleBudget = limit === undefined ? full.length : Math.max(0, limit - reasoningTokens);
  const words = full.slice(0, visibleBudget);
  const prompt = promptTokens(messages);
  const cached = cachedTokens(context, model, messages, prompt);
  // One chunk per token, as OpenAI streams, so completion tokens are the chunks plus the reasoning.
  const completionTokens = words.length + reasoningTokens;
  return {
    model,
    words,
    finishReason: words.length < full.length ? 'length' : 'stop',
    promptTokens: prompt,
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completionTokens,
      total_tokens: prompt + completionTokens,
      prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: reasoningTokens,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
  };
}

const SYSTEM_FINGERPRINT = 'fp_5keyhaven1';

async function chatCompletions(context: RouteContext) {
  const completion = complete(context);
  if (!completion) return;
  const body = context.json as Json;
  const id = `chatcmpl-${randomBytes(15).toString('base64url')}`;
  const created = Math.floor(Date.now() / 1000);
  const headers = { ...baseHeaders(), ...rateLimitHeaders(completion.promptTokens) };
  if (body.stream !== true) {
    context.send(
      200,
      {
        id,
        object: 'chat.completion',
        created,
        model: completion.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: completion.words.join(''),
              refusal: null,
              annotations: [],
            },
            logprobs: null,
            finish_reason: completion.finishReason,
          },
        ],
        usage: completion.usage,
        service_tier: 'default',
        system_fingerprint: SYSTEM_FINGERPRINT,
      },
      headers,
    );
    return;
  }
  const streamOptions = isObject(body.stream_options) ? body.stream_options : {};
  const includeUsage = streamOptions.include_usage === true;
  const obfuscate = streamOptions.include_obfuscation !== false;
  const chunk = (choices: unknown[], extra: Json = {}) =>
    `data: ${JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model: completion.model,
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...(obfuscate ? { obfuscation: randomBytes(6).toString('base64url') } : {}),
      ...extra,
    })}\n\n`;
  const choice = (delta: Json, finishReason: string | null = null) => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finishReason,
  });
  function* frames() {
    yield chunk([choice({ role: 'assistant', content: '', refusal: null })]);
    for (const word of completion?.words ?? []) yield chunk([choice({ content: word })]);
    yield chunk([choice({}, completion?.finishReason ?? 'stop')]);
    if (includeUsage) yield chunk([], { usage: completion?.usage });
    yield 'data: [DONE]\n\n';
  }
  await context.stream(frames(), {
    errorFrame: `data: ${JSON.stringify(
      errorBody('The server had an error while processing your request. Sorry about that!', 'server_error'),
    )}\n\n`,
    headers,
  });
}

/**
 * The Videos API after its shutdown. OpenAI answers a shut-down model the way it answered
 * text-davinci-003 after its retirement: 404, model_not_found, "has been deprecated".
 */
function retiredVideos(context: RouteContext) {
  const multipartModel = /name="model"\r?\n\r?\n([^\r\n]+)/.exec(context.body.toString('latin1'))?.[1];
  const jsonModel =
    isObject(context.json) && typeof context.json.model === 'string' ? context.json.model : '';
  const model = jsonModel || multipartModel || 'sora-2';
  context.send(
    404,
    errorBody(
      `The model \`${model}\` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations`,
      'invalid_request_error',
      'model_not_found',
    ),
    baseHeaders(),
  );
}

export const openaiSimulation: ProviderSimulation = {
  id: 'openai',
  prefix: '/openai',
  sdkBasePath: '/v1',
  defaultKeys: [OPENAI_SIMULATOR_KEY],
  extractKey: bearerKey,
  unauthorized,
  error,
  routes: [
    {
      method: 'GET',
      path: '/v1/models',
      handle: (context) =>
        context.send(
          200,
          { object: 'list', data: MODELS.map((model) => ({ ...model, object: 'model' })) },
          baseHeaders(),
        ),
    },
    {
      method: 'GET',
      path: '/v1/models/:model',
      handle(context) {
        const model = MODELS.find((known) => known.id === context.params.model);
        if (model) return context.send(200, { ...model, object: 'model' }, baseHeaders());
        context.send(
          404,
          errorBody(
            `The model '${context.params.model}' does not exist`,
            'invalid_request_error',
            'model_not_found',
            'model',
          ),
          baseHeaders(),
        );
      },
    },
    { method: 'POST', path: '/v1/chat/completions', handle: chatCompletions },
    { method: 'POST', path: '/v1/videos', handle: retiredVideos },
    { method: 'POST', path: '/v1/videos/:id/remix', handle: retiredVideos },
  ],
};
