import { z } from 'zod';
import { type HttpContext, requestJson, secretsOf, send } from '../http.ts';
import type {
  AdapterOptions,
  ProviderAdapter,
  ValidationResult,
  VideoRequest,
  VideoStart,
  VideoStatus,
} from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
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

/** What validate() reports for an error: a bad credential is invalid, anything else says why not. */
function validationResultOf(error: unknown): ValidationResult {
  if (!isUpstreamError(error)) throw error;
  switch (error.kind) {
    case 'authentication':
    case 'permission':
      return { status: 'invalid', reason: error.message };
    case 'rate_limited':
    case 'quota_exhausted':
      return error.retryAfterMs === undefined
        ? { status: 'rate_limited' }
        : { status: 'rate_limited', retryAfterMs: error.retryAfterMs };
    default:
      return { status: 'unreachable', reason: error.message };
  }
}

const creditsSchema = z.object({ credit_balance: z.number() });

export function createLumaAdapter({
  baseURL,
  fetch,
  credentials,
  now = Date.now,
}: AdapterOptions): ProviderAdapter {
  const http: HttpContext = { provider: PROVIDER, fetch, baseURL, mapError: mapLumaError, now };

  /** Headers and redaction list from the credential as it is now (read per request, never kept). */
  async function authorization() {
    const current = await credentials();
    const apiKey = current.apiKey?.reveal().trim();
    if (!apiKey)
      throw new UpstreamError({
        provider: PROVIDER,
        kind: 'authentication',
        message: 'the luma credential has no apiKey',
      });
    return {
      headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json' },
      secrets: secretsOf(current),
    };
  }

  async function validate(options: { signal?: AbortSignal } = {}): Promise<ValidationResult> {
    try {
      const { headers, secrets } = await authorization();
      const { data } = await requestJson(http, {
        path: '/credits',
        headers,
        secrets,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (!creditsSchema.safeParse(data).success)
        throw invalidResponse('Luma answered /credits without a balance');
      return { status: 'valid' };
    } catch (error) {
      return validationResultOf(error);
    }
  }

  async function start(request: VideoRequest): Promise<VideoStart> {
    const generation = buildLumaGeneration(request);
    const { headers, secrets } = await authorization();
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
    const { headers, secrets } = await authorization();
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
    const { headers, secrets } = await authorization();
    await send(http, { method: 'DELETE', path: `/generations/${decoded.id}`, headers, secrets });
  }

  return { validate, video: { start, status, cancel } };
}
