import { z } from 'zod';
import { apiKeyConnection, validateByGet } from '../adapter-support.ts';
import type { AdapterOptions, ProviderAdapter } from '../spec.ts';
import { ANTHROPIC_PROVIDER, mapAnthropicError } from './anthropic-errors.ts';
import { createAnthropicMessages } from './anthropic-messages.ts';

/** The version header every official SDK sends; it pins the wire format this adapter parses. */
export const ANTHROPIC_VERSION = '2023-06-01';

const modelsPage = z.looseObject({ data: z.array(z.looseObject({ id: z.string() })) });

export function createAnthropicAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = apiKeyConnection(options, {
    provider: ANTHROPIC_PROVIDER,
    mapError: mapAnthropicError,
    requestIdHeader: 'request-id',
    headers: (apiKey) => ({ 'x-api-key': apiKey, 'anthropic-version': ANTHROPIC_VERSION }),
  });
  return {
    /** `GET /v1/models?limit=1`: authenticated, free, and one model long. */
    validate: validateByGet(connection, '/v1/models?limit=1', modelsPage),
    text: createAnthropicMessages(connection),
  };
}
