import { builtInCredentialSpec } from '../credentials.ts';
import { pricedModels } from '../prices/index.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE } from '../spec.ts';
import { createGoogleVeoAdapter } from './google-veo-adapter.ts';
import { VEO_VIDEO_MODELS } from './veo-models.ts';

/** Google Veo: video generation through the Gemini API (API key) or Vertex AI (service account). */
const icon =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32" role="img" aria-label="Google Veo">' +
  '<rect width="32" height="32" rx="7" fill="#12355b"/>' +
  '<text x="16" y="21.5" text-anchor="middle" font-family="system-ui, sans-serif" font-size="14" font-weight="700" fill="#f4f7fb">Ve</text>' +
  '</svg>';

// Veo 2 has no price in the table: it is offered, and its cost is reported as unpriced (null), never 0.
const models = pricedModels(
  'google-veo',
  'video',
  VEO_VIDEO_MODELS.map((model) => model.id),
);

export const googleVeoProvider = defineProvider({
  id: 'google-veo',
  displayName: 'Google Veo',
  description:
    'Video generation from text or an image with Veo 3.1, 3 and 2, through the Gemini API (API key) or Vertex AI (service account). Jobs run asynchronously and are polled.',
  icon,
  credential: builtInCredentialSpec('google-veo'),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'Gemini API key',
      secret: true,
      optional: true,
      description: 'A key from Google AI Studio. Give either this or a service account.',
    },
    {
      name: 'serviceAccount',
      label: 'Service account key (JSON)',
      secret: true,
      optional: true,
      description:
        'The JSON key file of a Google Cloud service account with the Vertex AI User role, for Veo on Vertex AI.',
    },
    {
      name: 'location',
      label: 'Vertex AI location',
      secret: false,
      optional: true,
      description: 'The region Vertex AI runs Veo in (default us-central1). Only with a service account.',
    },
  ],
  capabilities: { video: { models: VEO_VIDEO_MODELS, status: AVAILABLE } },
  defaultRateLimits: { perMinute: 10, perHour: 100 },
  status: AVAILABLE,
  models,
  defaultBaseURL: 'https://generativelanguage.googleapis.com',
  createAdapter: createGoogleVeoAdapter,
});

export { createGoogleVeoAdapter, VERTEX_BASE_URL_VARIABLE } from './google-veo-adapter.ts';
export { VEO_VIDEO_MODELS } from './veo-models.ts';
