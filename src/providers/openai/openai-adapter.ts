import { z } from 'zod';
import { apiKeyConnection, validateByGet } from '../adapter-support.ts';
import type { AdapterOptions, ProviderAdapter } from '../spec.ts';
import { createOpenAIChatModel } from './openai-chat.ts';
import { mapOpenAIError } from './openai-errors.ts';
import { retiredSoraVideoModel } from './openai-video.ts';

/**
 * The OpenAI adapter. The credential is read for every request; the key travels only in the
 * Authorization header, with the optional organization and project in their own headers.
 */
const modelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ id: z.string() })),
});

export function createOpenAIAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = apiKeyConnection(options, {
    provider: 'openai',
    mapError: mapOpenAIError,
    requestIdHeader: 'x-request-id',
    headers(apiKey, credential) {
      const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
      const organization = credential.organization?.reveal();
      if (organization) headers['openai-organization'] = organization;
      const project = credential.project?.reveal();
      if (project) headers['openai-project'] = project;
      return headers;
    },
  });
  return {
    // The model list is free and needs a working key: the cheapest authenticated call.
    validate: validateByGet(connection, 'models', modelListSchema),
    text: createOpenAIChatModel(connection),
    video: retiredSoraVideoModel,
  };
}
