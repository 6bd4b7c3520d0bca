import { z } from 'zod';
import type { Connection } from '../adapter-support.ts';
import { parseJsonEvent, requestJson, send, sseEvents } from '../http.ts';
import type { TextModel, TextRequest, TextResult, TextStreamEvent } from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { ANTHROPIC_PROVIDER, anthropicStreamError } from './anthropic-errors.ts';
import {
  type AnthropicUsage,
  anthropicUsageSchema,
  mergeAnthropicUsage,
  normaliseAnthropicUsage,
} from './anthropic-usage.ts';

/**
 * Text through the Messages API (`POST /v1/messages`), plain and streamed. System messages travel in the
 * top-level `system` field; `max_tokens` is required by Anthropic, so it is defaulted with a warning.
 */
export const DEFAULT_MAX_TOKENS = 4096;

interface MessagesBody {
  model: string;
  max_tokens: number;
  messages: { role: 'user' | 'assistant'; content: string }[];
  system?: string;
  temperature?: number;
  stream?: boolean;
}

export function toMessagesBody(request: TextRequest): { body: MessagesBody; warnings: string[] } {
  const warnings: string[] = [];
  const system: string[] = [];
  const messages: MessagesBody['messages'] = [];
  let movedSystem = false;
  for (const message of request.messages) {
    if (message.role === 'system') {
      system.push(message.content);
      if (messages.length > 0) movedSystem = true;
    } else {
      messages.push({ role: message.role, content: message.content });
    }
  }
  if (movedSystem) {
    warnings.push(
      'system messages after the conversation started were moved into the top-level system prompt',
    );
  }
  let maxTokens = request.maxOutputTokens;
  if (maxTokens === undefined) {
    maxTokens = DEFAULT_MAX_TOKENS;
    warnings.push(
      `maxOutputTokens was not set; Anthropic requires max_tokens, so ${DEFAULT_MAX_TOKENS} was sent`,
    );
  }
  const body: MessagesBody = { model: request.model, max_tokens: maxTokens, messages };
  if (system.length > 0) body.system = system.join('\n\n');
  if (request.temperature !== undefined) {
    // Anthropic takes 0..1 where other providers take 0..2; clamp rather than fail the call.
    const clamped = Math.min(1, Math.max(0, request.temperature));
    if (clamped !== request.temperature) {
      warnings.push(
        `temperature ${request.temperature} is outside Anthropic's 0..1 range; ${clamped} was sent`,
      );
    }
    body.temperature = clamped;
  }
  return { body, warnings };
}

/** Anthropic's stop_reason in the vocabulary every adapter reports. */
export function finishReasonOf(stopReason: string | null | undefined): string {
  switch (stopReason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool-calls';
    case 'refusal':
      return 'content-filter';
    default:
      return 'other';
  }
}

const messageResponse = z.looseObject({
  type: z.literal('message'),
  model: z.string(),
  content: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
  stop_reason: z.string().nullish(),
  usage: anthropicUsageSchema,
});

const messageStartEvent = z.looseObject({
  message: z.looseObject({ model: z.string().optional(), usage: anthropicUsageSchema.optional() }),
});
const contentBlockDeltaEvent = z.looseObject({
  delta: z.looseObject({ type: z.string(), text: z.string().optional() }),
});
const messageDeltaEvent = z.looseObject({
  delta: z.looseObject({ stop_reason: z.string().nullish() }),
  usage: anthropicUsageSchema.optional(),
});

function invalidResponse(message: string, status?: number): UpstreamError {
  return new UpstreamError({
    provider: ANTHROPIC_PROVIDER,
    kind: 'invalid_response',
    message,
    ...(status === undefined ? {} : { status }),
  });
}

function parseEvent<T>(schema: z.ZodType<T>, name: string, data: string): T {
  const parsed = schema.safeParse(parseJsonEvent(ANTHROPIC_PROVIDER, data));
  if (!parsed.success) throw invalidResponse(`the stream carried a ${name} event of an unexpected shape`);
  return parsed.data;
}

/** A failure while reading a stream: the caller's abort stays theirs, a dropped connection is named. */
function streamFailure(error: unknown, signal: AbortSignal | undefined): unknown {
  if (isUpstreamError(error) || signal?.aborted) return error;
  return new UpstreamError({
    provider: ANTHROPIC_PROVIDER,
    kind: 'unreachable',
    message: 'the connection to the provider was lost in the middle of the stream',
  });
}

export function createAnthropicMessages(connection: Connection): TextModel {
  async function generate(request: TextRequest): Promise<TextResult> {
    const { body, warnings } = toMessagesBody(request);
    const { headers, secrets } = await connection.authorize();
    const { data, response } = await requestJson(connection.http, {
      path: '/v1/messages',
      headers,
      body,
      secrets,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const parsed = messageResponse.safeParse(data);
    if (!parsed.success)
      throw invalidResponse('the message response has an unexpected shape', response.status);
    const message = parsed.data;
    return {
      text: message.content
        .filter((block) => block.type === 'text')
        .map((block) => block.text ?? '')
        .join(''),
      model: message.model,
      finishReason: finishReasonOf(message.stop_reason),
      usage: normaliseAnthropicUsage(message.usage),
      warnings,
    };
  }

  async function* stream(request: TextRequest): AsyncGenerator<TextStreamEvent> {
    const { body, warnings } = toMessagesBody(request);
    const { headers, secrets } = await connection.authorize();
    const response = await send(connection.http, {
      path: '/v1/messages',
      headers: { ...headers, accept: 'text/event-stream' },
      body: { ...body, stream: true },
      secrets,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    let usage: AnthropicUsage = {};
    let stopReason: string | null | undefined;
    try {
      for await (const event of sseEvents(response, request.signal)) {
        switch (event.event) {
          case 'error':
            throw anthropicStreamError(event.data, secrets);
          case 'message_start': {
            const start = parseEvent(messageStartEvent, 'message_start', event.data);
            usage = mergeAnthropicUsage(usage, start.message.usage ?? {});
            break;
          }
          case 'content_block_delta': {
            const { delta } = parseEvent(contentBlockDeltaEvent, 'content_block_delta', event.data);
            // Thinking, signature and tool-input deltas are not part of the text.
            if (delta.type === 'text_delta' && delta.text) yield { type: 'text-delta', text: delta.text };
            break;
          }
          case 'message_delta': {
            const delta = parseEvent(messageDeltaEvent, 'message_delta', event.data);
            usage = mergeAnthropicUsage(usage, delta.usage ?? {});
            stopReason = delta.delta.stop_reason ?? stopReason;
            break;
          }
          case 'message_stop':
            yield {
              type: 'finish',
              finishReason: finishReasonOf(stopReason),
              usage: normaliseAnthropicUsage(usage),
              warnings,
            };
            return;
          default:
            // ping, content_block_start/stop, and event types Anthropic may add later.
            break;
        }
      }
    } catch (error) {
      throw streamFailure(error, request.signal);
    }
    throw new UpstreamError({
      provider: ANTHROPIC_PROVIDER,
      kind: 'server_error',
      message: 'the stream ended before message_stop',
    });
  }

  return { generate, stream };
}
