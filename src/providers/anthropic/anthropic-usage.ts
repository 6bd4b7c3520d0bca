import { z } from 'zod';
import { EMPTY_USAGE, type Usage } from '../spec.ts';

/**
 * Anthropic usage, normalised. `input_tokens` already excludes cache reads and cache writes, so the three
 * are billed separately and never subtracted; thinking tokens are a part of `output_tokens`.
 * In a stream every count is cumulative: message_start carries the input side, each message_delta the
 * running totals, so later values replace earlier ones and are never added.
 */
const count = z.number().int().min(0).nullish();

export const anthropicUsageSchema = z.looseObject({
  input_tokens: count,
  output_tokens: count,
  cache_creation_input_tokens: count,
  cache_read_input_tokens: count,
  output_tokens_details: z.looseObject({ thinking_tokens: count }).nullish(),
});

export type AnthropicUsage = z.infer<typeof anthropicUsageSchema>;

/** Later cumulative counts replace earlier ones; a count a frame leaves out (or sends as null) is kept. */
export function mergeAnthropicUsage(earlier: AnthropicUsage, later: AnthropicUsage): AnthropicUsage {
  const merged: AnthropicUsage = { ...earlier };
  for (const [name, value] of Object.entries(later)) {
    if (value !== null && value !== undefined) (merged as Record<string, unknown>)[name] = value;
  }
  return merged;
}

export function normaliseAnthropicUsage(usage: AnthropicUsage): Usage {
  return {
    ...EMPTY_USAGE,
    inputTokens: usage.input_tokens ?? 0,
    outputTokens: usage.output_tokens ?? 0,
    cacheReadTokens: usage.cache_read_input_tokens ?? 0,
    cacheWriteTokens: usage.cache_creation_input_tokens ?? 0,
    reasoningTokens: usage.output_tokens_details?.thinking_tokens ?? 0,
  };
}
