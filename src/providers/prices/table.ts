import type { ModelPrice } from '../spec.ts';

/**
 * The built-in price table: USD per million tokens, USD per second of video by resolution, USD per
 * image. Sources: the Portkey price snapshot of 2026-08-21 (tokens, Sora, Veo), provider credit prices
 * (Runway and Stability: 1 credit = USD 0.01). Models not listed here are unpriced: their cost is null.
 */
export const PRICE_TABLE_VERSION = '2026-08-21';
export const PRICE_TABLE_SOURCE =
  'Portkey models price snapshot 2026-08-21; Runway and Stability credit prices';

export const builtInPrices: Readonly<Record<string, Readonly<Record<string, ModelPrice>>>> = {
  openai: {
    'gpt-4o': { inputPerMillion: 2.5, outputPerMillion: 10, cacheReadPerMillion: 1.25 },
    'gpt-4o-mini': { inputPerMillion: 0.15, outputPerMillion: 0.6, cacheReadPerMillion: 0.075 },
    'gpt-4.1': { inputPerMillion: 2, outputPerMillion: 8, cacheReadPerMillion: 0.5 },
    'gpt-4.1-mini': { inputPerMillion: 0.4, outputPerMillion: 1.6, cacheReadPerMillion: 0.1 },
    'gpt-5': { inputPerMillion: 1.25, outputPerMillion: 10, cacheReadPerMillion: 0.125 },
    'gpt-5-mini': { inputPerMillion: 0.25, outputPerMillion: 2, cacheReadPerMillion: 0.025 },
    'sora-2': { videoPerSecond: { '720p': 0.1 } },
    'sora-2-pro': { videoPerSecond: { '720p': 0.3, '1024p': 0.5 } },
  },
  anthropic: {
    'claude-sonnet-4-5': {
      inputPerMillion: 3,
      outputPerMillion: 15,
      cacheReadPerMillion: 0.3,
      cacheWritePerMillion: 3.75,
    },
    'claude-sonnet-4-6': {
      inputPerMillion: 3,
      outputPerMillion: 15,
      cacheReadPerMillion: 0.3,
      cacheWritePerMillion: 3.75,
    },
    'claude-haiku-4-5': {
      inputPerMillion: 1,
      outputPerMillion: 5,
      cacheReadPerMillion: 0.1,
      cacheWritePerMillion: 1.25,
    },
    'claude-opus-4-5': {
      inputPerMillion: 5,
      outputPerMillion: 25,
      cacheReadPerMillion: 0.5,
      cacheWritePerMillion: 6.25,
    },
    'claude-opus-4-6': {
      inputPerMillion: 5,
      outputPerMillion: 25,
      cacheReadPerMillion: 0.5,
      cacheWritePerMillion: 6.25,
    },
    'claude-opus-4-1': {
      inputPerMillion: 15,
      outputPerMillion: 75,
      cacheReadPerMillion: 1.5,
      cacheWritePerMillion: 18.75,
    },
  },
  'google-gemini': {
    'gemini-2.5-flash': { inputPerMillion: 0.3, outputPerMillion: 2.5, cacheReadPerMillion: 0.03 },
    'gemini-2.5-pro': { inputPerMillion: 1.25, outputPerMillion: 10, cacheReadPerMillion: 0.125 },
  },
  'google-veo': {
    'veo-3.1-generate-preview': { videoPerSecond: { '720p': 0.4, '1080p': 0.4, '4k': 0.6 } },
    'veo-3.1-fast-generate-preview': { videoPerSecond: { '720p': 0.1, '1080p': 0.12, '4k': 0.3 } },
    'veo-3.0-generate-001': { videoPerSecond: { '720p': 0.2, '1080p': 0.2 } },
    'veo-3.0-fast-generate-001': { videoPerSecond: { '720p': 0.1, '1080p': 0.1 } },
  },
  runway: {
    gen4_turbo: { videoPerSecond: { '720p': 0.05 } },
  },
  stability: {
    core: { perImage: 0.03 },
    'sd3.5-large': { perImage: 0.065 },
    'sd3.5-large-turbo': { perImage: 0.04 },
    'sd3.5-medium': { perImage: 0.035 },
  },
  mistral: {
    'mistral-small-latest': { inputPerMillion: 0.1, outputPerMillion: 0.3 },
    'mistral-medium-latest': { inputPerMillion: 0.4, outputPerMillion: 2 },
    'mistral-large-latest': { inputPerMillion: 0.5, outputPerMillion: 1.5 },
  },
  luma: {},
};
