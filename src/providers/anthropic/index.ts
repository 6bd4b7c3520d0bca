import { builtInCredentialSpec } from '../credentials.ts';
import { pricedModels } from '../prices/index.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE } from '../spec.ts';
import { createAnthropicAdapter } from './anthropic-adapter.ts';
import { ANTHROPIC_PROVIDER } from './anthropic-errors.ts';

export { ANTHROPIC_VERSION, createAnthropicAdapter } from './anthropic-adapter.ts';
export { mapAnthropicError } from './anthropic-errors.ts';
export { normaliseAnthropicUsage } from './anthropic-usage.ts';

const TEXT_MODELS = [
  'claude-opus-4-8',
  'claude-opus-4-7',
  'claude-opus-4-6',
  'claude-opus-4-5',
  'claude-opus-4-1',
  'claude-sonnet-4-6',
  'claude-sonnet-4-5',
  'claude-haiku-4-5',
] as const;

export const anthropicProvider = defineProvider({
  id: ANTHROPIC_PROVIDER,
  displayName: 'Anthropic',
  description: 'Claude models through the Anthropic Messages API, with streaming, prompt caching and usage.',
  icon: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" role="img" aria-label="Anthropic"><rect width="32" height="32" rx="7" fill="#5b4636"/><text x="16" y="21.5" text-anchor="middle" font-family="system-ui, sans-serif" font-size="14" font-weight="700" fill="#f5efe6">An</text></svg>',
  credential: builtInCredentialSpec(ANTHROPIC_PROVIDER),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'API key',
      secret: true,
      optional: false,
      description: 'An Anthropic API key, created in the Claude Console under Settings > API keys.',
    },
  ],
  capabilities: { text: { models: TEXT_MODELS, streaming: true } },
  // DESIGN names no limits here. 50 requests a minute is Anthropic's own first usage tier, so a new key is
  // never pushed past what its account allows; the hourly cap bounds what a runaway client can spend.
  defaultRateLimits: { perMinute: 50, perHour: 1000 },
  status: AVAILABLE,
  models: pricedModels(ANTHROPIC_PROVIDER, 'text', TEXT_MODELS),
  defaultBaseURL: 'https://api.anthropic.com',
  createAdapter: createAnthropicAdapter,
});
