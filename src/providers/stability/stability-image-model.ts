import { z } from 'zod';
import type { Connection } from '../adapter-support.ts';
import { requestJson } from '../http.ts';
import { EMPTY_USAGE, type ImageModel, type ImageRequest } from '../spec.ts';
import { UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import {
  findStabilityImageModel,
  STABILITY_ASPECT_RATIOS,
  STABILITY_IMAGE_MODELS,
  STABILITY_MAX_PROMPT_LENGTH,
  STABILITY_MAX_SEED,
  type StabilityImageModelSpec,
} from './stability-models.ts';

/**
 * Stable Image generation: one multipart/form-data POST to `/v2beta/stable-image/generate/{endpoint}`
 * with `Accept: application/json`, answered `{image: <base64>, finish_reason, seed}`. An image
 * Stability's filter withheld (finish_reason CONTENT_FILTERED) is an error, not a result: what comes
 * back is a blurred placeholder.
 */
const generationSchema = z.object({
  image: z.string().min(1),
  finish_reason: z.string(),
  seed: z.number().optional(),
});

const MEDIA_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
};

export interface StabilityGeneration {
  model: StabilityImageModelSpec;
  path: string;
  form: FormData;
  outputFormat: string;
  warnings: string[];
}

function refuse(kind: UpstreamErrorKind, message: string): UpstreamError {
  return new UpstreamError({ provider: 'stability', kind, message });
}

/** The multipart request for an image request, or a refusal before any network call. */
export function buildStabilityGeneration(request: ImageRequest): StabilityGeneration {
  const id = request.model ?? 'core';
  const model = findStabilityImageModel(id);
  if (!model) {
    throw refuse(
      'unsupported',
      `model ${JSON.stringify(id).slice(0, 80)} is not a supported Stability image model (supported: ${STABILITY_IMAGE_MODELS.map((entry) => entry.id).join(', ')})`,
    );
  }
  const prompt = request.prompt.trim();
  if (!prompt) throw refuse('bad_request', 'prompt must not be empty');
  if (prompt.length > STABILITY_MAX_PROMPT_LENGTH)
    throw refuse('bad_request', `prompt must be at most ${STABILITY_MAX_PROMPT_LENGTH} characters`);
  const aspectRatio = request.aspectRatio;
  if (aspectRatio !== undefined && !(STABILITY_ASPECT_RATIOS as readonly string[]).includes(aspectRatio)) {
    throw refuse(
      'unsupported',
      `aspectRatio ${JSON.stringify(aspectRatio).slice(0, 40)} is not supported by Stability (supported: ${STABILITY_ASPECT_RATIOS.join(', ')})`,
    );
  }
  const outputFormat = request.outputFormat ?? 'png';
  if (!model.outputFormats.includes(outputFormat)) {
    throw refuse(
      'unsupported',
      `outputFormat ${JSON.stringify(outputFormat).slice(0, 40)} is not supported by ${model.id} (supported: ${model.outputFormats.join(', ')})`,
    );
  }
  const seed = request.seed;
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= STABILITY_MAX_SEED))
    throw refuse('bad_request', `seed must be an integer from 0 to ${STABILITY_MAX_SEED}`);

  const warnings: string[] = [];
  const form = new FormData();
  form.set('prompt', prompt);
  if (model.endpoint === 'sd3') form.set('model', model.id);
  if (aspectRatio !== undefined) form.set('aspect_ratio', aspectRatio);
  if (request.negativePrompt) {
    if (request.negativePrompt.length > STABILITY_MAX_PROMPT_LENGTH)
      throw refuse('bad_request', `negativePrompt must be at most ${STABILITY_MAX_PROMPT_LENGTH} characters`);
    if (model.negativePrompt) form.set('negative_prompt', request.negativePrompt);
    else warnings.push(`negativePrompt is not supported by ${model.id} and was not sent`);
  }
  if (seed !== undefined) form.set('seed', String(seed));
  form.set('output_format', outputFormat);
  return { model, path: `/v2beta/stable-image/generate/${model.endpoint}`, form, outputFormat, warnings };
}

export function createStabilityImageModel(connection: Connection): ImageModel {
  return {
    async generate(request) {
      const generation = buildStabilityGeneration(request);
      const { headers, secrets } = await connection.authorize();
      const { data, response } = await requestJson(connection.http, {
        method: 'POST',
        path: generation.path,
        headers,
        body: generation.form,
        secrets,
        ...(request.signal ? { signal: request.signal } : {}),
      });
      const parsed = generationSchema.safeParse(data);
      if (!parsed.success) {
        throw new UpstreamError({
          provider: 'stability',
          kind: 'invalid_response',
          status: response.status,
          message: `POST ${generation.path} answered with a body that is not a generated image`,
        });
      }
      if (parsed.data.finish_reason === 'CONTENT_FILTERED') {
        throw new UpstreamError({
          provider: 'stability',
          kind: 'content_filtered',
          status: response.status,
          providerCode: 'CONTENT_FILTERED',
          message:
            'the generated image was withheld by Stability content filtering (finish_reason CONTENT_FILTERED)',
        });
      }
      // Stability names the encoding in its content type (`application/json; type=image/png`).
      const declared = /type=(image\/[a-z0-9.+-]+)/i.exec(response.headers.get('content-type') ?? '')?.[1];
      return {
        images: [
          {
            base64: parsed.data.image,
            mediaType: declared ?? MEDIA_TYPES[generation.outputFormat] ?? 'image/png',
          },
        ],
        model: generation.model.id,
        usage: { ...EMPTY_USAGE, images: 1 },
        warnings: generation.warnings,
      };
    },
  };
}
