import { builtInCredentialSpec } from '../credentials.ts';
import { pricedModels } from '../prices/index.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE } from '../spec.ts';
import { createStabilityAdapter } from './stability-adapter.ts';
import {
  STABILITY_ASPECT_RATIOS,
  STABILITY_IMAGE_MODELS,
  STABILITY_OUTPUT_FORMATS,
  STABILITY_VIDEO_RETIRED_ON,
  STABILITY_VIDEO_RETIRED_REASON,
} from './stability-models.ts';

/** Stability AI: Stable Image generation (Core, Ultra, SD 3.5). Its video API is retired. */
const icon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32" role="img" aria-label="Stability AI">' +
  '<rect width="32" height="32" rx="7" fill="#3b1f6b"/>' +
  '<text x="16" y="21.5" text-anchor="middle" font-family="system-ui, sans-serif" font-size="15" font-weight="700" fill="#ffffff">St</text>' +
  '</svg>';

const models = pricedModels(
  'stability',
  'image',
  STABILITY_IMAGE_MODELS.map((model) => model.id),
);

export const stabilityProvider = defineProvider({
  id: 'stability',
  displayName: 'Stability AI',
  description:
    'Image generation with Stable Image Core, Ultra and Stable Diffusion 3.5. Its video API was retired by Stability AI on 2025-07-24.',
  icon,
  credential: builtInCredentialSpec('stability'),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'API key',
      secret: true,
      optional: false,
      description: 'A key from platform.stability.ai/account/keys (sk-...).',
    },
    {
      name: 'organization',
      label: 'Organization ID',
      secret: false,
      optional: true,
      description: 'org-...; sent as the Organization header to bill another of your organizations.',
    },
  ],
  capabilities: {
    image: {
      models: STABILITY_IMAGE_MODELS.map((model) => model.id),
      aspectRatios: STABILITY_ASPECT_RATIOS,
      outputFormats: STABILITY_OUTPUT_FORMATS,
      status: AVAILABLE,
    },
    video: {
      models: [],
      status: { state: 'retired', date: STABILITY_VIDEO_RETIRED_ON, reason: STABILITY_VIDEO_RETIRED_REASON },
    },
  },
  defaultRateLimits: { perMinute: 3, perHour: 30 },
  status: AVAILABLE,
  models,
  defaultBaseURL: 'https://api.stability.ai',
  createAdapter: createStabilityAdapter,
});

export { createStabilityAdapter } from './stability-adapter.ts';
export { STABILITY_IMAGE_MODELS } from './stability-models.ts';
