import { builtInCredentialSpec } from '../credentials.ts';
import { builtInPrices } from '../prices/index.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE, type ModelInfo } from '../spec.ts';
import { createOpenAIAdapter } from './openai-adapter.ts';
import { SORA_RETIRED_ON, SORA_RETIRED_REASON } from './openai-video.ts';

function model(id: string, kind: ModelInfo['kind']): ModelInfo {
  const price = builtInPrices.openai?.[id];
  return price ? { id, kind, price } : { id, kind };
}

// The priced models come first; the others are offered but unpriced (their cost is null, never 0).
const TEXT_MODELS = [
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-5',
  'gpt-5-mini',
  'gpt-4.1-nano',
  'gpt-5-nano',
  'o4-mini',
] as const;

const VIDEO_MODELS = ['sora-2', 'sora-2-pro'] as const;

export const openaiProvider = defineProvider({
  id: 'openai',
  displayName: 'OpenAI',
  description: 'GPT chat models with streaming and token usage. The Sora video API was retired by OpenAI.',
  icon: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" role="img" aria-label="OpenAI"><rect width="32" height="32" rx="7" fill="#1f2937"/><text x="16" y="21" text-anchor="middle" font-family="system-ui, sans-serif" font-size="13" font-weight="700" fill="#f9fafb">OA</text></svg>',
  credential: builtInCredentialSpec('openai'),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'API key',
      secret: true,
      optional: false,
      description: 'A secret key from platform.openai.com/api-keys (sk-...).',
    },
    {
      name: 'organization',
      label: 'Organization ID',
      secret: false,
      optional: true,
      description: 'org-...; sent as OpenAI-Organization when the key belongs to several organizations.',
    },
    {
      name: 'project',
      label: 'Project ID',
      secret: false,
      optional: true,
      description: 'proj_...; sent as OpenAI-Project to bill usage to one project.',
    },
  ],
  capabilities: {
    text: { models: TEXT_MODELS, streaming: true },
    video: {
      models: [
        {
          id: 'sora-2',
          durations: [4, 8, 12],
          resolutions: ['720p'],
          aspectRatios: ['16:9', '9:16'],
          imageInput: true,
        },
        {
          id: 'sora-2-pro',
          durations: [4, 8, 12],
          resolutions: ['720p', '1024p'],
          aspectRatios: ['16:9', '9:16'],
          imageInput: true,
        },
      ],
      status: { state: 'retired', date: SORA_RETIRED_ON, reason: SORA_RETIRED_REASON },
    },
  },
  // DESIGN gives no default for OpenAI. These are per user of this key, a guard against a runaway
  // client rather than OpenAI's own limit: 60 a minute is an interactive chat pace and stays below the
  // lowest paid tier's requests per minute (500), so Keyhaven refuses politely before OpenAI answers
  // 429; 1000 an hour caps a loop at a bounded bill.
  defaultRateLimits: { perMinute: 60, perHour: 1000 },
  status: AVAILABLE,
  models: [...TEXT_MODELS.map((id) => model(id, 'text')), ...VIDEO_MODELS.map((id) => model(id, 'video'))],
  defaultBaseURL: 'https://api.openai.com/v1',
  createAdapter: createOpenAIAdapter,
});
