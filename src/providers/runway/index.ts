import { builtInCredentialSpec } from '../credentials.ts';
import { pricedModels } from '../prices/index.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE } from '../spec.ts';
import { createRunwayAdapter } from './runway-adapter.ts';
import { RUNWAY_VIDEO_MODELS, runwayVideoModelInfo } from './runway-models.ts';

/** Runway: asynchronous video generation (gen4_turbo, gen4.5, Veo 3.1 hosted by Runway). */
const icon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32" role="img" aria-label="Runway">' +
  '<rect width="32" height="32" rx="7" fill="#1b1b1f"/>' +
  '<text x="16" y="21.5" text-anchor="middle" font-family="system-ui, sans-serif" font-size="15" font-weight="700" fill="#ffffff">Rw</text>' +
  '</svg>';

const models = pricedModels(
  'runway',
  'video',
  RUNWAY_VIDEO_MODELS.map((model) => model.id),
);

export const runwayProvider = defineProvider({
  id: 'runway',
  displayName: 'Runway',
  description:
    'Video generation from text or an image: gen4_turbo (image to video), gen4.5 and Veo 3.1 through Runway. Jobs run asynchronously and are polled.',
  icon,
  credential: builtInCredentialSpec('runway'),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'API key',
      secret: true,
      optional: false,
      description: 'A Runway API key from the developer portal (starts with key_).',
    },
    {
      name: 'organization',
      label: 'Organization ID',
      secret: false,
      optional: true,
      description:
        'For your records only: a Runway key already belongs to one organization, and Runway has no organization header, so this is never sent.',
    },
  ],
  capabilities: {
    video: { models: RUNWAY_VIDEO_MODELS.map(runwayVideoModelInfo), status: AVAILABLE },
  },
  defaultRateLimits: { perMinute: 5, perHour: 50 },
  status: AVAILABLE,
  models,
  defaultBaseURL: 'https://api.dev.runwayml.com',
  createAdapter: createRunwayAdapter,
});

export { createRunwayAdapter } from './runway-adapter.ts';
export { RUNWAY_API_VERSION, RUNWAY_VIDEO_MODELS } from './runway-models.ts';
