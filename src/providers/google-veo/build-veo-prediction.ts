import type { VideoRequest } from '../spec.ts';
import { UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import {
  DEFAULT_VEO_ASPECT_RATIO,
  DEFAULT_VEO_DURATION_SECONDS,
  DEFAULT_VEO_MODEL,
  DEFAULT_VEO_RESOLUTION,
  findVeoModel,
  VEO_VIDEO_MODELS,
} from './veo-models.ts';
import type { VeoApi } from './veo-operation.ts';

/**
 * Turns a video request into a `predictLongRunning` body, the same on both APIs:
 *   {"instances":[{"prompt","image":{"bytesBase64Encoded","mimeType"}}],
 *    "parameters":{"sampleCount":1,"durationSeconds","aspectRatio","resolution","negativePrompt","seed"}}
 * or refuses it before any network call: a value outside the model's limits, or an image Veo cannot
 * be sent (it takes image bytes inline and fetches no URL). `seed` exists on Vertex AI only; on the
 * Gemini API it is dropped with a warning.
 */
export interface VeoPrediction {
  model: string;
  body: { instances: Record<string, unknown>[]; parameters: Record<string, unknown> };
  durationSeconds: number;
  resolution: string;
  warnings: string[];
}

const MAX_SEED = 4_294_967_295;
const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+);base64,([A-Za-z0-9+/]+={0,2})$/i;

function refuse(kind: UpstreamErrorKind, message: string): UpstreamError {
  return new UpstreamError({ provider: 'google-veo', kind, message });
}

function quoted(value: unknown): string {
  return JSON.stringify(value)?.slice(0, 80) ?? String(value);
}

function readImage(image: string): { bytesBase64Encoded: string; mimeType: string } {
  if (/^https?:\/\//i.test(image)) {
    throw refuse(
      'unsupported',
      'google-veo takes the input image inline: pass it as a data:image/...;base64 URL (Veo does not fetch URLs)',
    );
  }
  const match = DATA_URL.exec(image.replace(/\s+/g, ''));
  if (!match?.[1] || !match[2]) {
    throw refuse('bad_request', 'image must be a data:image/...;base64 URL');
  }
  const mimeType = match[1].toLowerCase();
  if (!IMAGE_TYPES.includes(mimeType)) {
    throw refuse(
      'unsupported',
      `image type ${quoted(mimeType)} is not supported by Veo (use ${IMAGE_TYPES.join(', ')})`,
    );
  }
  return { bytesBase64Encoded: match[2], mimeType };
}

export function buildVeoPrediction(request: VideoRequest, api: VeoApi): VeoPrediction {
  const modelId = request.model ?? DEFAULT_VEO_MODEL;
  const model = findVeoModel(modelId);
  if (!model) {
    throw refuse(
      'unsupported',
      `model ${quoted(modelId)} is not a supported Veo model (supported: ${VEO_VIDEO_MODELS.map((entry) => entry.id).join(', ')})`,
    );
  }
  const prompt = request.prompt.trim();
  const image = request.image?.trim() || undefined;
  if (!prompt && !image) throw refuse('bad_request', 'prompt must not be empty');

  const durationSeconds = request.durationSeconds ?? DEFAULT_VEO_DURATION_SECONDS;
  if (!model.durations.includes(durationSeconds)) {
    throw refuse(
      'unsupported',
      `durationSeconds ${quoted(durationSeconds)} is not supported by ${model.id} (supported: ${model.durations.join(', ')})`,
    );
  }
  const resolution = request.resolution ?? DEFAULT_VEO_RESOLUTION;
  if (!model.resolutions.includes(resolution)) {
    throw refuse(
      'unsupported',
      `resolution ${quoted(resolution)} is not supported by ${model.id} (supported: ${model.resolutions.join(', ')})`,
    );
  }
  const aspectRatio = request.aspectRatio ?? DEFAULT_VEO_ASPECT_RATIO;
  if (!model.aspectRatios.includes(aspectRatio)) {
    throw refuse(
      'unsupported',
      `aspectRatio ${quoted(aspectRatio)} is not supported by ${model.id} (supported: ${model.aspectRatios.join(', ')})`,
    );
  }

  const warnings: string[] = [];
  const instance: Record<string, unknown> = { prompt };
  if (image) instance.image = readImage(image);
  const parameters: Record<string, unknown> = { sampleCount: 1, durationSeconds, aspectRatio, resolution };
  if (request.negativePrompt?.trim()) parameters.negativePrompt = request.negativePrompt.trim();
  if (request.seed !== undefined) {
    if (api === 'gemini') {
      warnings.push('seed is supported by Veo on Vertex AI only; the Gemini API request was sent without it');
    } else if (Number.isInteger(request.seed) && request.seed >= 0 && request.seed <= MAX_SEED) {
      parameters.seed = request.seed;
    } else {
      throw refuse('bad_request', `seed must be an integer from 0 to ${MAX_SEED}`);
    }
  }
  return {
    model: model.id,
    body: { instances: [instance], parameters },
    durationSeconds,
    resolution,
    warnings,
  };
}
