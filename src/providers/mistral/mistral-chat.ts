import { z } from 'zod';
import type { Connection } from '../adapter-support.ts';
import { chatCompletionChunks } from '../chat-completions.ts';
import { requestJson, send } from '../http.ts';
import type { TextModel, TextRequest, TextResult, TextStreamEvent, Usage } from '../spec.ts';
import { EMPTY_USAGE } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';
import { isMistralStreamError, mistralStreamError } from './mistral-errors.ts';

/**
 * Chat completions (`POST /v1/chat/completions`), plain and streamed. The wire format is OpenAI's, with
 * Mistral's differences: `max_tokens`, no `stream_options` (usage always rides on the last chunk), and
 * content that reasoning models send as a list of text and thinking chunks.
 */
const usageSchema = z.object({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
});

/** A string, or chunks of which only `text` ones are the answer (`thinking` ones are reasoning). */
const contentSchema = z.union([
  z.string(),
  z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
]);

const completionSchema = z.object({
  id: z.string(),
  model: z.string(),
  choices: z
    .array(
      z.object({
        message: z.object({ content: contentSchema.nullish() }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1),
  usage: usageSchema.nullish(),
});

const chunkSchema = z.object({
  choices: z.array(
    z.object({
      delta: z.object({ content: contentSchema.nullish() }).nullish(),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: usageSchema.nullish(),
});

function textOf(content: z.infer<typeof contentSchema> | null | undefined): string {
  if (typeof content === 'string') return content;
  if (!content) return '';
  return content.map((part) => (part.type === 'text' ? (part.text ?? '') : '')).join('');
}

function normalizeUsage(usage: z.infer<typeof usageSchema> | null | undefined): Usage {
  if (!usage) return { ...EMPTY_USAGE };
  return { ...EMPTY_USAGE, inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens };
}

function requestBody(request: TextRequest, stream: boolean) {
  const body: Record<string, unknown> = {
    model: request.model,
    messages: request.messages.map(({ role, content }) => ({ role, content })),
  };
  if (request.maxOutputTokens !== undefined) body.max_tokens = request.maxOutputTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (stream) body.stream = true;
  return body;
}

function invalidResponse(message: string): UpstreamError {
  return new UpstreamError({ provider: 'mistral', kind: 'invalid_response', message });
}

export function createMistralChatModel({ http, authorize }: Connection): TextModel {
  return {
    async generate(request): Promise<TextResult> {
      const { headers, secrets } = await authorize();
      const { data } = await requestJson(http, {
        path: 'v1/chat/completions',
        headers,
        body: requestBody(request, false),
        secrets,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      const parsed = completionSchema.safeParse(data);
      if (!parsed.success) throw invalidResponse('the chat completion did not have the expected shape');
      const [choice] = parsed.data.choices;
      const warnings = parsed.data.usage ? [] : ['the provider reported no usage for this call'];
      return {
        text: textOf(choice?.message.content),
        model: parsed.data.model,
        finishReason: choice?.finish_reason ?? 'unknown',
        usage: normalizeUsage(parsed.data.usage),
        warnings,
      };
    },

    async *stream(request): AsyncGenerator<TextStreamEvent> {
      const { headers, secrets } = await authorize();
      const response = await send(http, {
        path: 'v1/chat/completions',
        headers: { ...headers, accept: 'text/event-stream' },
        body: requestBody(request, true),
        secrets,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      let finishReason = 'unknown';
      let usage: Usage = { ...EMPTY_USAGE };
      const chunks = chatCompletionChunks(response, {
        provider: 'mistral',
        signal: request.signal,
        errorOf: (data, event) =>
          event === 'error' || isMistralStreamError(data) ? mistralStreamError(data, secrets) : undefined,
      });
      for await (const data of chunks) {
        const chunk = chunkSchema.safeParse(data);
        if (!chunk.success) throw invalidResponse('a stream chunk did not have the expected shape');
        for (const choice of chunk.data.choices) {
          const text = textOf(choice.delta?.content);
          if (text) yield { type: 'text-delta', text };
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
        if (chunk.data.usage) usage = normalizeUsage(chunk.data.usage);
      }
      yield { type: 'finish', finishReason, usage };
    },
  };
}
