import { z } from 'zod';
import type { Connection } from '../adapter-support.ts';
import { parseJsonEvent, requestJson, send, sseEvents } from '../http.ts';
import type { TextModel, TextRequest, TextResult, TextStreamEvent } from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { GOOGLE_GEMINI_PROVIDER, googleStreamError } from './google-gemini-errors.ts';
import { type GeminiUsage, geminiUsageSchema, normaliseGeminiUsage } from './google-gemini-usage.ts';

/**
 * Text through `models/{model}:generateContent` and `:streamGenerateContent?alt=sse`. System messages
 * become `systemInstruction`, the assistant role is `model`. A stream is `data: <GenerateContentResponse>`
 * events with no terminator: the last chunk carries finishReason and the final usage.
 */
interface GenerateContentBody {
  contents: { role: 'user' | 'model'; parts: { text: string }[] }[];
  systemInstruction?: { parts: { text: string }[] };
  generationConfig?: { maxOutputTokens?: number; temperature?: number };
}

/** `gemini-2.5-flash` or `models/gemini-2.5-flash`, as one encoded path segment (never a path of its own). */
export function geminiModelPath(model: string): string {
  return `/v1beta/models/${encodeURIComponent(model.replace(/^models\//, ''))}`;
}

export function toGenerateContentBody(request: TextRequest): {
  body: GenerateContentBody;
  warnings: string[];
} {
  const warnings: string[] = [];
  const system: { text: string }[] = [];
  const contents: GenerateContentBody['contents'] = [];
  let movedSystem = false;
  for (const message of request.messages) {
    if (message.role === 'system') {
      system.push({ text: message.content });
      if (contents.length > 0) movedSystem = true;
    } else {
      contents.push({
        role: message.role === 'assistant' ? 'model' : 'user',
        parts: [{ text: message.content }],
      });
    }
  }
  if (movedSystem) {
    warnings.push('system messages after the conversation started were moved into systemInstruction');
  }
  const body: GenerateContentBody = { contents };
  if (system.length > 0) body.systemInstruction = { parts: system };
  const generationConfig: NonNullable<GenerateContentBody['generationConfig']> = {};
  if (request.maxOutputTokens !== undefined) generationConfig.maxOutputTokens = request.maxOutputTokens;
  if (request.temperature !== undefined) {
    const clamped = Math.min(2, Math.max(0, request.temperature));
    if (clamped !== request.temperature) {
      warnings.push(`temperature ${request.temperature} is outside Gemini's 0..2 range; ${clamped} was sent`);
    }
    generationConfig.temperature = clamped;
  }
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  return { body, warnings };
}

/** Gemini's finishReason in the vocabulary every adapter reports. */
export function geminiFinishReason(finishReason: string | undefined): string {
  switch (finishReason) {
    case 'STOP':
      return 'stop';
    case 'MAX_TOKENS':
      return 'length';
    case 'SAFETY':
    case 'RECITATION':
    case 'BLOCKLIST':
    case 'PROHIBITED_CONTENT':
    case 'SPII':
    case 'IMAGE_SAFETY':
      return 'content-filter';
    default:
      return 'other';
  }
}

const part = z.looseObject({ text: z.string().optional(), thought: z.boolean().optional() });

const generateContentResponse = z.looseObject({
  candidates: z
    .array(
      z.looseObject({
        // A reply cut off by MAX_TOKENS may come with a content that has no parts at all.
        content: z.looseObject({ parts: z.array(part).optional() }).optional(),
        finishReason: z.string().optional(),
      }),
    )
    .optional(),
  promptFeedback: z.looseObject({ blockReason: z.string().optional() }).optional(),
  usageMetadata: geminiUsageSchema.optional(),
  modelVersion: z.string().optional(),
});

type GenerateContentResponse = z.infer<typeof generateContentResponse>;

/** The visible text of the first candidate: thought summaries are not part of the answer. */
function textOf(response: GenerateContentResponse): string {
  return (response.candidates?.[0]?.content?.parts ?? [])
    .filter((entry) => !entry.thought)
    .map((entry) => entry.text ?? '')
    .join('');
}

/** A prompt blocked outright gets no candidate at all, only a blockReason. */
function blockedPrompt(response: GenerateContentResponse): UpstreamError | undefined {
  const reason = response.promptFeedback?.blockReason;
  if (!reason || (response.candidates?.length ?? 0) > 0) return undefined;
  return new UpstreamError({
    provider: GOOGLE_GEMINI_PROVIDER,
    kind: 'content_filtered',
    message: `the prompt was blocked (${reason})`,
    providerCode: reason,
  });
}

function invalidResponse(message: string, status?: number): UpstreamError {
  return new UpstreamError({
    provider: GOOGLE_GEMINI_PROVIDER,
    kind: 'invalid_response',
    message,
    ...(status === undefined ? {} : { status }),
  });
}

function isErrorChunk(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'error' in value && typeof value.error === 'object';
}

export function createGeminiGenerateContent(connection: Connection): TextModel {
  async function generate(request: TextRequest): Promise<TextResult> {
    const { body, warnings } = toGenerateContentBody(request);
    const { headers, secrets } = await connection.authorize();
    const { data, response } = await requestJson(connection.http, {
      path: `${geminiModelPath(request.model)}:generateContent`,
      headers,
      body,
      secrets,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const parsed = generateContentResponse.safeParse(data);
    if (!parsed.success)
      throw invalidResponse('the generateContent response has an unexpected shape', response.status);
    const blocked = blockedPrompt(parsed.data);
    if (blocked) throw blocked;
    return {
      text: textOf(parsed.data),
      model: parsed.data.modelVersion ?? request.model,
      finishReason: geminiFinishReason(parsed.data.candidates?.[0]?.finishReason),
      usage: normaliseGeminiUsage(parsed.data.usageMetadata ?? {}),
      warnings,
    };
  }

  async function* stream(request: TextRequest): AsyncGenerator<TextStreamEvent> {
    const { body, warnings } = toGenerateContentBody(request);
    const { headers, secrets } = await connection.authorize();
    const response = await send(connection.http, {
      path: `${geminiModelPath(request.model)}:streamGenerateContent?alt=sse`,
      headers: { ...headers, accept: 'text/event-stream' },
      body,
      secrets,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    let usage: GeminiUsage = {};
    let finishReason: string | undefined;
    try {
      for await (const event of sseEvents(response, request.signal)) {
        const json = parseJsonEvent(GOOGLE_GEMINI_PROVIDER, event.data);
        if (isErrorChunk(json)) throw googleStreamError(GOOGLE_GEMINI_PROVIDER, json, secrets);
        const parsed = generateContentResponse.safeParse(json);
        if (!parsed.success) throw invalidResponse('the stream carried a chunk of an unexpected shape');
        const blocked = blockedPrompt(parsed.data);
        if (blocked) throw blocked;
        const text = textOf(parsed.data);
        if (text) yield { type: 'text-delta', text };
        // Running totals: the latest chunk's usage replaces the previous one.
        usage = parsed.data.usageMetadata ?? usage;
        finishReason = parsed.data.candidates?.[0]?.finishReason ?? finishReason;
      }
    } catch (error) {
      if (isUpstreamError(error) || request.signal?.aborted) throw error;
      throw new UpstreamError({
        provider: GOOGLE_GEMINI_PROVIDER,
        kind: 'unreachable',
        message: 'the connection to the provider was lost in the middle of the stream',
      });
    }
    if (finishReason === undefined) {
      throw new UpstreamError({
        provider: GOOGLE_GEMINI_PROVIDER,
        kind: 'server_error',
        message: 'the stream ended before a chunk with a finishReason',
      });
    }
    yield {
      type: 'finish',
      finishReason: geminiFinishReason(finishReason),
      usage: normaliseGeminiUsage(usage),
      warnings,
    };
  }

  return { generate, stream };
}
