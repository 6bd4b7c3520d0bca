import { z } from 'zod';
import { EMPTY_USAGE, type Usage } from '../spec.ts';

/**
 * Gemini usageMetadata, normalised. promptTokenCount includes the cached tokens (cachedContentTokenCount),
 * so they are taken out of the input and billed as cache reads; thoughts are not part of
 * candidatesTokenCount but are billed as output, so output is candidates + thoughts. Tool-use prompt
 * tokens (search results fed back to the model) are counted apart from the prompt and billed as input.
 * In a stream every chunk repeats the running totals: the last one is the whole call.
 */
const count = z.number().int().min(0).optional();

export const geminiUsageSchema = z.looseObject({
  promptTokenCount: count,
  candidatesTokenCount: count,
  thoughtsTokenCount: count,
  cachedContentTokenCount: count,
  toolUsePromptTokenCount: count,
  totalTokenCount: count,
});

export type GeminiUsage = z.infer<typeof geminiUsageSchema>;

export function normaliseGeminiUsage(usage: GeminiUsage): Usage {
  const prompt = usage.promptTokenCount ?? 0;
  const cached = Math.min(usage.cachedContentTokenCount ?? 0, prompt);
  const thoughts = usage.thoughtsTokenCount ?? 0;
  return {
    ...EMPTY_USAGE,
    inputTokens: prompt - cached + (usage.toolUsePromptTokenCount ?? 0),
    cacheReadTokens: cached,
    outputTokens: (usage.candidatesTokenCount ?? 0) + thoughts,
    reasoningTokens: thoughts,
  };
}
