import { z } from 'zod';
import type { Connection } from '../adapter-support.ts';
import { chatCompletionChunks } from '../chat-completions.ts';
import { requestJson, send } from '../http.ts';
import type { TextModel, TextRequest, TextResult, TextStreamEvent, Usage } from '../spec.ts';
import { EMPTY_USAGE } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';
import { openAIStreamError } from './openai-errors.ts';

/**
 * Chat completions (`POST /chat/completions`), plain and streamed. OpenAI's prompt_tokens include the
 * cached tokens and completion_tokens include the reasoning tokens; Usage counts each token once.
 */
const usageSchema = z.object({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
  prompt_tokens_details: z
    .object({
      cached_tokens: z.number().int().min(0).nullish(),
      cache_write_tokens: z.number().int().min(0).nullish(),
    })
    .nullish(),
  completion_tokens_details: z.object({ reasoning_tokens: z.number().int().min(0).nullish() }).nullish(),
});

const completionSchema = z.object({
  id: z.string(),
  model: z.string(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: usageSchema.nullish(),
});

const chunkSchema = z.object({
  model: z.string().optional(),
  choices: z.array(
    z.object({
      delta: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }).nullish(),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: usageSchema.nullish(),
});

function normalizeUsage(usage: z.infer<typeof usageSchema> | null | undefined): Usage {
  if (!usage) return { ...EMPTY_USAGE };
  const cacheRead = usage.prompt_tokens_details?.cached_tokens ?? 0;
  const cacheWrite = usage.prompt_tokens_details?.cache_write_tokens ?? 0;
  return {
    ...EMPTY_USAGE,
    inputTokens: Math.max(0, usage.prompt_tokens - cacheRead - cacheWrite),
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    outputTokens: usage.completion_tokens,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/**
 * Reasoning models (o-series, gpt-5 except the -chat variants) refuse any temperature but the default
 * with a 400, so it is left out and reported rather than failing the call.
 */
function isReasoningModel(model: string): boolean {
  return /^(o\d|gpt-5)/.test(model) && !/-chat/.test(model);
}

function requestBody(request: TextRequest, stream: boolean) {
  const warnings: string[] = [];
  const body: Record<string, unknown> = {
    model: request.model,
    messages: request.messages.map(({ role, content }) => ({ role, content })),
  };
  // max_tokens is deprecated and refused by reasoning models; max_completion_tokens works for all.
  if (request.maxOutputTokens !== undefined) body.max_completion_tokens = request.maxOutputTokens;
  if (request.temperature !== undefined) {
    if (isReasoningModel(request.model)) {
      warnings.push(`temperature is not supported by ${request.model} and was not sent`);
    } else body.temperature = request.temperature;
  }
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return { body, warnings };
}

function invalidResponse(message: string): UpstreamError {
  return new UpstreamError({ provider: 'openai', kind: 'invalid_response', message });
}

function hasErrorMember(data: unknown): data is { error: unknown } {
  return typeof data === 'object' && data !== null && 'error' in data && Boolean(data.error);
}

export function createOpenAIChatModel({ http, authorize }: Connection): TextModel {
  return {
    async generate(request): Promise<TextResult> {
      const { headers, secrets } = await authorize();
      const { body, warnings } = requestBody(request, false);
      const { data } = await requestJson(http, {
        path: 'chat/completions',
        headers,
        body,
        secrets,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      const parsed = completionSchema.safeParse(data);
      if (!parsed.success) throw invalidResponse('the chat completion did not have the expected shape');
      const [choice] = parsed.data.choices;
      if (!parsed.data.usage) warnings.push('the provider reported no usage for this call');
      return {
        text: choice?.message.content ?? '',
        model: parsed.data.model,
        finishReason: choice?.finish_reason ?? 'unknown',
        usage: normalizeUsage(parsed.data.usage),
        warnings,
      };
    },

    async *stream(request): AsyncGenerator<TextStreamEvent> {
      const { headers, secrets } = await authorize();
      const { body, warnings } = requestBody(request, true);
      const response = await send(http, {
        path: 'chat/completions',
        headers,
        body,
        secrets,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      let finishReason = 'unknown';
      let usage: Usage = { ...EMPTY_USAGE };
      const chunks = chatCompletionChunks(response, {
        provider: 'openai',
        signal: request.signal,
        errorOf(data, event) {
          if (event === 'error') return openAIStreamError(hasErrorMember(data) ? data.error : data, secrets);
          return hasErrorMember(data) ? openAIStreamError(data.error, secrets) : undefined;
        },
      });
      for await (const data of chunks) {
        const chunk = chunkSchema.safeParse(data);
        if (!chunk.success) throw invalidResponse('a stream chunk did not have the expected shape');
        for (const choice of chunk.data.choices) {
          const text = choice.delta?.content;
          if (text) yield { type: 'text-delta', text };
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
        // Only the last chunk carries usage (include_usage); the others have usage: null.
        if (chunk.data.usage) usage = normalizeUsage(chunk.data.usage);
      }
      yield { type: 'finish', finishReason, usage, ...(warnings.length > 0 ? { warnings } : {}) };
    },
  };
}
