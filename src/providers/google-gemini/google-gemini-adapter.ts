import { z } from 'zod';
import { apiKeyConnection, validateByGet } from '../adapter-support.ts';
import type { AdapterOptions, ProviderAdapter } from '../spec.ts';
import { GOOGLE_GEMINI_PROVIDER, mapGoogleError } from './google-gemini-errors.ts';
import { createGeminiGenerateContent } from './google-gemini-generate-content.ts';

const modelsPage = z.looseObject({ models: z.array(z.looseObject({ name: z.string() })).optional() });

export function createGoogleGeminiAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = apiKeyConnection(options, {
    provider: GOOGLE_GEMINI_PROVIDER,
    mapError: mapGoogleError,
    // The key travels in `x-goog-api-key`, never as `?key=`: URLs end up in logs, proxies and traces.
    headers: (apiKey) => ({ 'x-goog-api-key': apiKey }),
  });
  return {
    /** `GET /v1beta/models?pageSize=1`: authenticated, free, and one model long. */
    validate: validateByGet(connection, '/v1beta/models?pageSize=1', modelsPage),
    text: createGeminiGenerateContent(connection),
  };
}
