import { builtInCredentialSpec } from '../credentials.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE, type ModelInfo } from '../spec.ts';
import { createLumaAdapter } from './luma-adapter.ts';
import { LUMA_VIDEO_MODELS } from './luma-models.ts';

/** Luma Dream Machine: video generation from text or a start frame (ray-2, ray-flash-2). */
const icon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32" role="img" aria-label="Luma">' +
  '<rect width="32" height="32" rx="7" fill="#2a1f3d"/>' +
  '<text x="16" y="21.5" text-anchor="middle" font-family="system-ui, sans-serif" font-size="14" font-weight="700" fill="#f3eefc">Lu</text>' +
  '</svg>';

// Luma bills in credits per generation with no per-second price in the table: the models are offered
// unpriced, so their cost is reported as null (unpriced), never 0.
const models: ModelInfo[] = LUMA_VIDEO_MODELS.map((model) => ({ id: model.id, kind: 'video' }));

export const lumaProvider = defineProvider({
  id: 'luma',
  displayName: 'Luma',
  description:
    'Dream Machine video generation from text or a start image with ray-2 and ray-flash-2, 5 or 9 seconds up to 4k. Jobs run asynchronously and are polled.',
  icon,
  credential: builtInCredentialSpec('luma'),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'API key',
      secret: true,
      optional: false,
      description: 'A Dream Machine API key from lumalabs.ai/dream-machine/api/keys (luma-...).',
    },
  ],
  capabilities: { video: { models: LUMA_VIDEO_MODELS, status: AVAILABLE } },
  // Luma enforces per-plan request-per-minute and concurrent-generation caps it does not publish as
  // fixed numbers; these defaults stay well under the smallest plan, like the other video providers.
  defaultRateLimits: { perMinute: 10, perHour: 100 },
  status: AVAILABLE,
  models,
  defaultBaseURL: 'https://api.lumalabs.ai/dream-machine/v1',
  createAdapter: createLumaAdapter,
});

export { createLumaAdapter } from './luma-adapter.ts';
export { LUMA_VIDEO_MODELS } from './luma-models.ts';
