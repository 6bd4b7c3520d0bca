import { anthropicProvider } from './anthropic/index.ts';
import { googleGeminiProvider } from './google-gemini/index.ts';
import { googleVeoProvider } from './google-veo/index.ts';
import { lumaProvider } from './luma/index.ts';
import { mistralProvider } from './mistral/index.ts';
import { openaiProvider } from './openai/index.ts';
import { runwayProvider } from './runway/index.ts';
import type { ProviderDefinition } from './spec.ts';
import { stabilityProvider } from './stability/index.ts';

/** The providers Keyhaven ships with, in the order catalogs list them. */
export const builtInProviders: readonly ProviderDefinition[] = [
  openaiProvider,
  anthropicProvider,
  googleGeminiProvider,
  googleVeoProvider,
  runwayProvider,
  stabilityProvider,
  lumaProvider,
  mistralProvider,
];
