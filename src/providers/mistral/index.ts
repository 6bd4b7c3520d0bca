import { builtInCredentialSpec } from '../credentials.ts';
import { builtInPrices } from '../prices/index.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE, type ModelInfo } from '../spec.ts';
import { createMistralAdapter } from './mistral-adapter.ts';

function model(id: string): ModelInfo {
  const price = builtInPrices.mistral?.[id];
  return price ? { id, kind: 'text', price } : { id, kind: 'text' };
}

// The priced models come first; the others are offered but unpriced (their cost is null, never 0).
const TEXT_MODELS = [
  'mistral-small-latest',
  'mistral-medium-latest',
  'mistral-large-latest',
  'magistral-medium-latest',
  'codestral-latest',
  'ministral-8b-latest',
] as const;

export const mistralProvider = defineProvider({
  id: 'mistral',
  displayName: 'Mistral AI',
  description: 'Mistral chat models with streaming and token usage.',
  icon: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" role="img" aria-label="Mistral AI"><rect width="32" height="32" rx="7" fill="#7c2d12"/><text x="16" y="21" text-anchor="middle" font-family="system-ui, sans-serif" font-size="13" font-weight="700" fill="#fff7ed">Mi</text></svg>',
  credential: builtInCredentialSpec('mistral'),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'API key',
      secret: true,
      optional: false,
      description: 'A key from console.mistral.ai/api-keys.',
    },
  ],
  capabilities: { text: { models: TEXT_MODELS, streaming: true } },
  // DESIGN gives no default for Mistral. Its free Experiment plan allows about one request a second,
  // so 60 a minute is the most a free key can use anyway and keeps Keyhaven from spending a user's
  // allowance on 429s; 1000 an hour bounds a runaway loop on a paid plan.
  defaultRateLimits: { perMinute: 60, perHour: 1000 },
  status: AVAILABLE,
  models: TEXT_MODELS.map(model),
  defaultBaseURL: 'https://api.mistral.ai',
  createAdapter: createMistralAdapter,
});
