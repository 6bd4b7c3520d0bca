import { z } from 'zod';
import { apiKeyConnection, validateByGet } from '../adapter-support.ts';
import type { AdapterOptions, ProviderAdapter } from '../spec.ts';
import { createMistralChatModel } from './mistral-chat.ts';
import { mapMistralError } from './mistral-errors.ts';

/**
 * The Mistral adapter. The base URL is the API origin (`https://api.mistral.ai`), as the official SDK's
 * serverURL, so paths carry their `/v1`. The key is read for every request and travels only in the
 * Authorization header.
 */
const modelListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });

export function createMistralAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = apiKeyConnection(options, {
    provider: 'mistral',
    mapError: mapMistralError,
    requestIdHeader: 'mistral-correlation-id',
    headers: (apiKey) => ({ authorization: `Bearer ${apiKey}` }),
  });
  return {
    // Listing models is free and needs a working key: the cheapest authenticated call.
    validate: validateByGet(connection, 'v1/models', modelListSchema),
    text: createMistralChatModel(connection),
  };
}
