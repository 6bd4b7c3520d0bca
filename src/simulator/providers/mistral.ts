import { randomBytes, randomUUID } from 'node:crypto';
import { countTokens, simulatedReply } from '../text.ts';
import type { ErrorOptions, ProviderSimulation, RouteContext, SimulatedError } from '../types.ts';
import {
  bearerKey,
  chatMessages,
  isObject,
  type Json,
  lastUserText,
  retryAfterHeader,
} from './chat-completions.ts';

/**
 * Mistral as the simulator plays it, under /mistral with the SDK server URL /mistral: models and chat
 * completions (JSON and SSE, usage on the last chunk, then [DONE]), its gateway's and model API's error
 * bodies, and its rate-limit headers. Bodies marked "composed" are built on the documented envelope
 * where no recorded example was found.
 */
export const MISTRAL_SIMULATOR_KEY = 'sk-test-mistral-simulator';

const MODELS = [
  { id: 'mistral-small-latest', name: 'mistral-small-2506', context: 131_072, reasoning: false },
  { id: 'mistral-medium-latest', name: 'mistral-medium-2508', context: 131_072, reasoning: false },
  { id: 'mistral-large-latest', name: 'mistral-large-2512', context: 262_144, reasoning: false },
  { id: 'magistral-medium-latest', name: 'magistral-medium-2509', context: 131_072, reasoning: true },
  { id: 'codestral-latest', name: 'codestral-2508', context: 262_144, reasoning: false },
  { id: 'ministral-8b-latest', name: 'ministral-8b-2410', context: 131_072, reasoning: false },
] as const;

const CREATED = 1_763_000_000;
const LIMIT_REQUESTS_PER_MINUTE = 720;
const LIMIT_TOKENS_PER_MINUTE = 5_000_000;

function errorBody(message: unknown, type: string, code: string | null = null, param: string | null = null) {
  return { object: 'error', message, type, param, code };
}

function baseHeaders(): Record<string, string> {
  return { 'mistral-correlation-id': randomUUID() };
}

function rateLimitHeaders(tokens: number, remainingRequests = LIMIT_REQUESTS_PER_MINUTE - 1) {
  return {
    'x-ratelimit-limit-req-minute': String(LIMIT_REQUESTS_PER_MINUTE),
    'x-ratelimit-remaining-req-minute': String(remainingRequests),
    'x-ratelimit-limit-tokens-minute': String(LIMIT_TOKENS_PER_MINUTE),
    'x-ratelimit-remaining-tokens-minute': String(LIMIT_TOKENS_PER_MINUTE - tokens),
    'x-ratelimit-tokens-query-cost': String(tokens),
  };
}

/** Mistral's gateway refuses a missing and an unknown key alike, with FastAPI's bare detail. */
function unauthorized(): SimulatedError {
  return { status: 401, headers: baseHeaders(), body: { detail: 'Unauthorized' } };
}

function paymentRequired(message?: string): SimulatedError {
  // Composed: Mistral documents 402 for exhausted credit and reached spending limits.
  return {
    status: 402,
    headers: baseHeaders(),
    body: errorBody(
      message ??
        'Payment required: your organization has no credit left or has reached its monthly spending limit. Review billing at https://admin.mistral.ai/organization/billing.',
      'invalid_request_error',
    ),
  };
}

function error(status: number, options: ErrorOptions): SimulatedError {
  const headers = baseHeaders();
  switch (status) {
    case 401:
      return unauthorized();
    case 402:
      return paymentRequired(options.message);
    case 403:
      return {
        status,
        headers,
        // Composed on the documented envelope.
        body: errorBody(
          options.message ?? 'You do not have access to this model on your current plan.',
          'invalid_request_error',
        ),
      };
    case 404:
      return { status, headers, body: { detail: 'Not Found' } };
    case 429:
      if (options.quotaExhausted) return paymentRequired(options.message);
      return {
        status,
        headers: {
          ...headers,
          ...rateLimitHeaders(0, 0),
          ...retryAfterHeader(options.retryAfterSeconds),
        },
        body: errorBody(options.message ?? 'Rate limit exceeded', 'rate_limited', '1300'),
      };
    default:
      if (status >= 500) {
        const message =
          status === 503
            ? 'Service unavailable'
            : status === 504
              ? 'Gateway timeout'
              : 'Internal server error';
        return {
          status,
          headers: {
            ...headers,
            ...retryAfterHeader(options.retryAfterSeconds),
          },
          body: errorBody(options.message ?? message, 'server_error'),
        };
      }
      return { status, headers, body: errorBody(options.message ?? 'Bad request', 'invalid_request_error') };
  }
}

/** Request validation failures as FastAPI writes them (the SDK's HTTPValidationError). */
function missingField(context: RouteContext, field: string) {
  context.send(
    422,
    {
      detail: [{ type: 'missing', loc: ['body', field], msg: 'Field required', input: context.json ?? null }],
    },
    baseHeaders(),
  );
}

/**
 * Prompt tokens as Mistral's instruct format spends them: a begin-of-sequence token, then each message's
 * content between two control tokens ([INST] ... [/INST]).
 */
function promptTokens(texts: readonly string[]): number {
  return texts.reduce((sum, text) => sum + countTokens(text) + 2, 1);
}

async function chatCompletions(context: RouteContext) {
  const body = context.json;
  if (!isObject(body)) return missingField(context, 'messages');
  const model = body.model;
  if (typeof model !== 'string' || model === '') return missingField(context, 'model');
  if (!Array.isArray(body.messages) || body.messages.length === 0) return missingField(context, 'messages');
  if (!MODELS.some((known) => known.id === model)) {
    return context.send(400, errorBody(`Invalid model: ${model}`, 'invalid_model', '1500'), baseHeaders());
  }
  const messages = chatMessages(body.messages);
  const limit =
    typeof body.max_tokens === 'number' && body.max_tokens > 0 ? Math.floor(body.max_tokens) : undefined;
  const full = simulatedReply(lastUserText(messages), Number.MAX_SAFE_INTEGER);
  const words = full.slice(0, limit ?? full.length);
  const finishReason = words.length < full.length ? 'length' : 'stop';
  const prompt = promptTokens(messages.map((message) => message.text));
  // One chunk per token, as Mistral streams.
  const usage = {
    prompt_tokens: prompt,
    total_tokens: prompt + words.length,
    completion_tokens: words.length,
  };
  const id = randomBytes(16).toString('hex');
  const created = Math.floor(Date.now() / 1000);
  const headers = { ...baseHeaders(), ...rateLimitHeaders(usage.total_tokens) };
  if (body.stream !== true) {
    return context.send(
      200,
      {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', tool_calls: null, content: words.join('') },
            finish_reason: finishReason,
          },
        ],
        usage,
      },
      headers,
    );
  }
  const chunk = (delta: Json, finish: string | null, extra: Json = {}) =>
    `data: ${JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...extra,
    })}\n\n`;
  function* frames() {
    yield chunk({ role: 'assistant', content: '' }, null);
    for (const word of words) yield chunk({ content: word }, null);
    // Mistral sends usage with the finishing chunk; there is no separate usage-only chunk.
    yield chunk({ content: '' }, finishReason, { usage });
    yield 'data: [DONE]\n\n';
  }
  await context.stream(frames(), {
    errorFrame: `data: ${JSON.stringify(errorBody('Internal server error', 'server_error'))}\n\n`,
    headers,
  });
}

export const mistralSimulation: ProviderSimulation = {
  id: 'mistral',
  prefix: '/mistral',
  sdkBasePath: '',
  defaultKeys: [MISTRAL_SIMULATOR_KEY],
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
          {
            object: 'list',
            data: MODELS.map((model) => ({
              id: model.id,
              object: 'model',
              created: CREATED,
              owned_by: 'mistralai',
              capabilities: {
                completion_chat: true,
                function_calling: true,
                reasoning: model.reasoning,
                completion_fim: model.id.startsWith('codestral'),
                fine_tuning: false,
                vision: false,
                classification: false,
              },
              name: model.name,
              description: `Simulated ${model.id}`,
              max_context_length: model.context,
              aliases: [model.name],
              deprecation: null,
              default_model_temperature: 0.3,
              type: 'base',
            })),
          },
          { ...baseHeaders(), ...rateLimitHeaders(0) },
        ),
    },
    { method: 'POST', path: '/v1/chat/completions', handle: chatCompletions },
  ],
};
