import { builtInCredentialSpec } from '../credentials.ts';
import { pricedModels } from '../prices/index.ts';
import { defineProvider } from '../registry.ts';
import { AVAILABLE } from '../spec.ts';
import { createGoogleGeminiAdapter } from './google-gemini-adapter.ts';
import { GOOGLE_GEMINI_PROVIDER } from './google-gemini-errors.ts';

export { createGoogleGeminiAdapter } from './google-gemini-adapter.ts';
/** Google's error mapping, shared with google-veo (Gemini API and Vertex AI speak the same envelope). */
export {
  type GoogleErrorSummary,
  googleStreamError,
  mapGoogleError,
  summariseGoogleError,
} from './google-gemini-errors.ts';
export { normaliseGeminiUsage } from './google-gemini-usage.ts';

const TEXT_MODELS = [
  'gemini-2.5-pro',
  'gemini-2.5-flash',
  'gemini-2.5-flash-lite',
  'gemini-2.0-flash',
] as const;

export const googleGeminiProvider = defineProvider({
  id: GOOGLE_GEMINI_PROVIDER,
  displayName: 'Google Gemini',
  description: 'Gemini models through the Gemini API (Google AI Studio keys), with streaming and usage.',
  icon: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" role="img" aria-label="Google Gemini"><rect width="32" height="32" rx="7" fill="#2f4a7a"/><text x="16" y="21.5" text-anchor="middle" font-family="system-ui, sans-serif" font-size="14" font-weight="700" fill="#eef3fb">Ge</text></svg>',
  credential: builtInCredentialSpec(GOOGLE_GEMINI_PROVIDER),
  credentialFields: [
    {
      name: 'apiKey',
      label: 'API key',
      secret: true,
      optional: false,
      description: 'A Gemini API key, created in Google AI Studio. It is sent in the x-goog-api-key header.',
    },
  ],
  capabilities: { text: { models: TEXT_MODELS, streaming: true } },
  // DESIGN names no limits here. 10 requests a minute is the free tier's limit for Gemini 2.5 Flash, so a
  // free key is not driven into 429s; 250 an hour is that tier's whole daily allowance, so one busy hour
  // cannot spend more than a day of free quota.
  defaultRateLimits: { perMinute: 10, perHour: 250 },
  status: AVAILABLE,
  models: pricedModels(GOOGLE_GEMINI_PROVIDER, 'text', TEXT_MODELS),
  defaultBaseURL: 'https://generativelanguage.googleapis.com',
  createAdapter: createGoogleGeminiAdapter,
});
