import { z } from 'zod';
import { apiKeyConnection, validateByGet } from '../adapter-support.ts';
import { requestJson, send } from '../http.ts';
import type { AdapterOptions, ProviderAdapter, VideoRequest, VideoStart, VideoStatus } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';
import { buildLumaGeneration } from './build-luma-generation.ts';
import { mapLumaError } from './luma-errors.ts';
import { decodeLumaOperation, encodeLumaOperation, isLumaGenerationId } from './luma-operation.ts';
import { lumaGenerationSchema, mapLumaGeneration } from './map-luma-generation.ts';

/**
 * The Luma adapter: `Authorization: Bearer`, validated with the free `GET /credits`, video through
 * `POST /generations/video` and `GET /generations/{id}`. Luma has no cancel as such: deleting a
 * generation is how a caller stops one, so cancel() deletes it.
 */
const PROVIDER = 'luma';

function invalidResponse(message: string): UpstreamError {
  return new UpstreamError({ provider: PROVIDER, kind: 'invalid_response', message });
}

const creditsSchema = z.object({ credit_balance: z.number() });

export function createLumaAdapter(options: AdapterOptions): ProviderAdapter {
  const connection = apiKeyConnection(options, {
    provider: PROVIDER,
    mapError: mapLumaError,
    headers: (apiKey) => ({ authorization: `Bearer ${apiKey}`, accept: 'application/json' }),
  });
  const { http, authorize } = connection;

  async function start(request: VideoRequest): Promise<VideoStart> {
    const generation = buildLumaGeneration(request);
    const { headers, secrets } = await authorize();
    const { data } = await requestJson(http, {
      method: 'POST',
      path: '/generations/video',
      headers,
      body: generation.body,
      secrets,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const created = lumaGenerationSchema.safeParse(data);
    if (!created.success || !isLumaGenerationId(created.data.id)) {
      throw invalidResponse('Luma answered the generation request without a usable generation id');
    }
    return {
      operation: encodeLumaOperation({
        id: created.data.id,
        model: generation.model,
        durationSeconds: generation.durationSeconds,
        resolution: generation.resolution,
      }),
      model: generation.model,
      warnings: generation.warnings,
    };
  }

  async function status(operation: string, options: { signal?: AbortSignal } = {}): Promise<VideoStatus> {
    const decoded = decodeLumaOperation(operation);
    const { headers, secrets } = await authorize();
    const { data } = await requestJson(http, {
      path: `/generations/${decoded.id}`,
      headers,
      secrets,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const parsed = lumaGenerationSchema.safeParse(data);
    if (!parsed.success)
      throw invalidResponse('the generation Luma returned does not have the expected shape');
    return mapLumaGeneration(parsed.data, decoded);
  }

  async function cancel(operation: string): Promise<void> {
    const decoded = decodeLumaOperation(operation);
    const { headers, secrets } = await authorize();
    await send(http, { method: 'DELETE', path: `/generations/${decoded.id}`, headers, secrets });
  }

  return {
    validate: validateByGet(connection, '/credits', creditsSchema),
    video: { start, status, cancel },
  };
}
