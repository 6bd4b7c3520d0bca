import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { z } from 'zod';
import {
  type AnthropicUsage,
  anthropicUsageSchema,
  mergeAnthropicUsage,
  normaliseAnthropicUsage,
} from '../providers/anthropic/anthropic-usage.ts';
import { geminiUsageSchema, normaliseGeminiUsage } from '../providers/google-gemini/google-gemini-usage.ts';
import { EMPTY_USAGE, type Usage } from '../providers/spec.ts';
import type { UsageDialect } from './gateway-providers.ts';

/**
 * Usage capture from a passthrough response, without holding it back: SSE streams are parsed as their
 * bytes go by (eventsource-parser) and JSON bodies are copied aside (up to a bound) and read at the end.
 * The bytes reach the client unchanged, except for one case: an OpenAI chat stream for which the gateway
 * asked for `include_usage` on the client's behalf. Then the `usage` member the client did not ask for is
 * taken out of each chunk and the usage-only chunk before `[DONE]` is dropped, so the client sees the
 * stream it asked for.
 */
const MAX_CAPTURED_JSON_BYTES = 8 * 1024 * 1024;

const count = z.number().int().min(0).nullish();

/** Chat completions (OpenAI, Mistral): prompt_tokens includes cached tokens, completion the reasoning. */
const chatUsageSchema = z.looseObject({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0).nullish(),
  prompt_tokens_details: z.looseObject({ cached_tokens: count, cache_write_tokens: count }).nullish(),
  completion_tokens_details: z.looseObject({ reasoning_tokens: count }).nullish(),
});

/** The Responses API: input_tokens includes cached tokens, output_tokens the reasoning. */
const responsesUsageSchema = z.looseObject({
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0).nullish(),
  input_tokens_details: z.looseObject({ cached_tokens: count }).nullish(),
  output_tokens_details: z.looseObject({ reasoning_tokens: count }).nullish(),
});

function openAIUsage(value: unknown): Usage | undefined {
  // Most stream chunks carry no usage (or "usage": null): not worth two failed schema parses each.
  if (!isObject(value)) return undefined;
  const chat = chatUsageSchema.safeParse(value);
  if (chat.success) {
    const cacheRead = chat.data.prompt_tokens_details?.cached_tokens ?? 0;
    const cacheWrite = chat.data.prompt_tokens_details?.cache_write_tokens ?? 0;
    return {
      ...EMPTY_USAGE,
      inputTokens: Math.max(0, chat.data.prompt_tokens - cacheRead - cacheWrite),
      cacheReadTokens: cacheRead,
      cacheWriteTokens: cacheWrite,
      outputTokens: chat.data.completion_tokens ?? 0,
      reasoningTokens: chat.data.completion_tokens_details?.reasoning_tokens ?? 0,
    };
  }
  const responses = responsesUsageSchema.safeParse(value);
  if (responses.success) {
    const cacheRead = responses.data.input_tokens_details?.cached_tokens ?? 0;
    return {
      ...EMPTY_USAGE,
      inputTokens: Math.max(0, responses.data.input_tokens - cacheRead),
      cacheReadTokens: cacheRead,
      outputTokens: responses.data.output_tokens ?? 0,
      reasoningTokens: responses.data.output_tokens_details?.reasoning_tokens ?? 0,
    };
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** What one dialect learns from each JSON object of a response (a whole body or one stream event). */
interface UsageState {
  model: string | undefined;
  usage: Usage | undefined;
  /** Text deltas delivered: the output estimate when the stream broke before its usage arrived. */
  deltas: number;
  anthropic: AnthropicUsage | undefined;
  /** The stream's closing usage (OpenAI/Mistral last chunk, Anthropic message_delta) was seen. */
  final: boolean;
}

function observeOpenAI(state: UsageState, data: Record<string, unknown>): void {
  const response = isObject(data.response) ? data.response : undefined;
  state.model = stringOf(data.model) ?? stringOf(response?.model) ?? state.model;
  const usage = openAIUsage(data.usage) ?? openAIUsage(response?.usage);
  if (usage) {
    state.usage = usage;
    state.final = true;
  }
  const choices = Array.isArray(data.choices) ? data.choices : [];
  for (const choice of choices) {
    const delta = isObject(choice) && isObject(choice.delta) ? choice.delta : undefined;
    if (stringOf(delta?.content)) state.deltas += 1;
  }
  if (data.type === 'response.output_text.delta' && stringOf(data.delta)) state.deltas += 1;
}

function observeAnthropic(state: UsageState, data: Record<string, unknown>): void {
  const message = isObject(data.message) ? data.message : undefined;
  if (data.type === 'message_start' && message) {
    state.model = stringOf(message.model) ?? state.model;
    const start = anthropicUsageSchema.safeParse(message.usage);
    if (start.success) state.anthropic = start.data;
  } else if (data.type === 'message_delta') {
    const delta = anthropicUsageSchema.safeParse(data.usage);
    if (delta.success) {
      state.anthropic = state.anthropic ? mergeAnthropicUsage(state.anthropic, delta.data) : delta.data;
      state.final = true;
    }
  } else if (data.type === 'content_block_delta') {
    state.deltas += 1;
  } else if (data.type === 'message') {
    // A whole (not streamed) message.
    state.model = stringOf(data.model) ?? state.model;
    const whole = anthropicUsageSchema.safeParse(data.usage);
    if (whole.success) {
      state.anthropic = whole.data;
      state.final = true;
    }
  }
  if (state.anthropic) state.usage = normaliseAnthropicUsage(state.anthropic);
}

function observeGemini(state: UsageState, data: Record<string, unknown>): void {
  state.model = stringOf(data.modelVersion) ?? state.model;
  // Every chunk repeats the running totals: the last one delivered is what was used.
  const usage = geminiUsageSchema.safeParse(data.usageMetadata);
  if (data.usageMetadata !== undefined && usage.success) {
    state.usage = normaliseGeminiUsage(usage.data);
    state.final = true;
  }
}

const OBSERVERS: Readonly<Record<UsageDialect, (state: UsageState, data: Record<string, unknown>) => void>> =
  {
    openai: observeOpenAI,
    mistral: observeOpenAI,
    anthropic: observeAnthropic,
    gemini: observeGemini,
  };

export interface CapturedUsage {
  model: string | null;
  usage: Usage;
}

export interface UsageCapture {
  /** Takes upstream bytes; returns the bytes for the client (the same buffer unless rewriting). */
  push(chunk: Buffer): Buffer;
  /** What is left to send once the upstream body ended. */
  end(): Buffer;
  /** What was used, counting only what went through push(). */
  result(): CapturedUsage;
  /** True when the bytes sent differ in length from the upstream's (so Content-Length must go). */
  readonly rewrites: boolean;
}

export interface UsageCaptureOptions {
  dialect: UsageDialect;
  contentType: string | undefined;
  /** The model named in the request, until the response names one. */
  requestModel?: string | undefined;
  /** An OpenAI chat stream whose include_usage the gateway added: hide the usage from the client. */
  hideUsage?: boolean;
}

/**
 * An event's JSON without its top-level `usage` member. Every chunk of a stream with include_usage carries
 * `"usage":null`. When `"usage"` occurs once in the text, it is that member (a quote inside a string is
 * escaped, so the text can only be a key or a whole string value), and it is cut out as text instead of
 * re-serialising the chunk.
 */
function withoutUsageMember(text: string, data: Record<string, unknown>): string {
  if (data.usage === null) {
    const at = text.indexOf(USAGE_NULL);
    if (at !== -1 && text.indexOf('"usage"') === at && text.indexOf('"usage"', at + 1) === -1) {
      const before = text.slice(0, at).trimEnd();
      const after = text.slice(at + USAGE_NULL.length).trimStart();
      // The member and one comma next to it go: `{"a":1,"usage":null}` or `{"usage":null,"a":1}`.
      if (before.endsWith(',')) return `${before.slice(0, -1)}${after}`;
      if (after.startsWith(',')) return `${before}${after.slice(1)}`;
      if (before.endsWith('{') && after.startsWith('}')) return `${before}${after}`;
    }
  }
  const { usage: _usage, ...rest } = data;
  return JSON.stringify(rest);
}
const USAGE_NULL = '"usage":null';

function frame(event: EventSourceMessage): string {
  let text = '';
  if (event.event !== undefined) text += `event: ${event.event}\n`;
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  for (const line of event.data.split('\n')) text += `data: ${line}\n`;
  return `${text}\n`;
}

export function createUsageCapture({
  dialect,
  contentType = '',
  requestModel,
  hideUsage = false,
}: UsageCaptureOptions): UsageCapture {
  const state: UsageState = {
    model: requestModel,
    usage: undefined,
    deltas: 0,
    anthropic: undefined,
    final: false,
  };
  const observe = OBSERVERS[dialect];
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';

  const result = (): CapturedUsage => {
    const usage = { ...(state.usage ?? EMPTY_USAGE) };
    // A stream that broke off before its closing usage: what was delivered is at least the deltas.
    if (!state.final) usage.outputTokens = Math.max(usage.outputTokens, state.deltas);
    return { model: state.model ?? null, usage };
  };

  if (mediaType === 'text/event-stream') {
    const decoder = new TextDecoder();
    let output = '';
    const rewrite = hideUsage;
    const parser = createParser({
      onEvent(event) {
        let data: unknown;
        try {
          data = event.data === '[DONE]' ? undefined : JSON.parse(event.data);
        } catch {
          data = undefined;
        }
        if (isObject(data)) observe(state, data);
        if (!rewrite) return;
        if (!isObject(data) || !('usage' in data)) {
          output += frame(event);
          return;
        }
        // The usage-only chunk the client did not ask for is dropped; other chunks lose the member.
        if (Array.isArray(data.choices) && data.choices.length === 0 && data.usage) return;
        output += frame({ ...event, data: withoutUsageMember(event.data, data) });
      },
      onComment(comment) {
        if (rewrite) output += `:${comment}\n\n`;
      },
    });
    const take = () => {
      const text = output;
      output = '';
      return Buffer.from(text, 'utf8');
    };
    return {
      rewrites: rewrite,
      push(chunk) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        return rewrite ? take() : chunk;
      },
      end() {
        const rest = decoder.decode();
        if (rest) parser.feed(rest);
        // A final event without its blank line is still an event.
        parser.feed('\n\n');
        return rewrite ? take() : Buffer.alloc(0);
      },
      result,
    };
  }

  const json = mediaType === 'application/json' || mediaType.endsWith('+json');
  const parts: Buffer[] = [];
  let size = 0;
  let ended = false;
  return {
    rewrites: false,
    push(chunk) {
      if (json && size <= MAX_CAPTURED_JSON_BYTES) {
        parts.push(chunk);
        size += chunk.length;
      }
      return chunk;
    },
    end() {
      if (!ended && json && size > 0 && size <= MAX_CAPTURED_JSON_BYTES) {
        ended = true;
        try {
          // A whole JSON answer comes in one chunk as a rule: read it where it is.
          const bytes = parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts);
          const body: unknown = JSON.parse(bytes.toString('utf8'));
          // streamGenerateContent without alt=sse answers a JSON array of chunks.
          for (const item of Array.isArray(body) ? body : [body]) if (isObject(item)) observe(state, item);
        } catch {
          // Not JSON after all: no usage to report.
        }
      }
      parts.length = 0;
      return Buffer.alloc(0);
    },
    result,
  };
}
