import type { VideoRequest } from '../spec.ts';
import { UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import {
  DEFAULT_LUMA_ASPECT_RATIO,
  DEFAULT_LUMA_DURATION_SECONDS,
  DEFAULT_LUMA_MODEL,
  DEFAULT_LUMA_RESOLUTION,
  findLumaModel,
  LUMA_VIDEO_MODELS,
} from './luma-models.ts';

/**
 * Turns a video request into Luma's `POST /generations/video` body
 *   {"model","prompt","aspect_ratio","duration":"5s","resolution","keyframes":{"frame0":{"type":"image","url"}}}
 * or refuses it before any network call. Luma fetches keyframe images itself, so the image must be an
 * https URL; Luma has no negative prompt and no seed, which become warnings.
 */
export interface LumaGeneration {
  model: string;
  body: Record<string, unknown>;
  durationSeconds: number;
  resolution: string;
  warnings: string[];
}

/** Luma's documented prompt limits. */
const MIN_PROMPT = 3;
const MAX_PROMPT = 5000;

function refuse(kind: UpstreamErrorKind, message: string): UpstreamError {
  return new UpstreamError({ provider: 'luma', kind, message });
}

function quoted(value: unknown): string {
  return JSON.stringify(value)?.slice(0, 80) ?? String(value);
}

function readImage(image: string): string {
  if (image.startsWith('data:')) {
    throw refuse(
      'unsupported',
      'luma takes the input image as an https URL it can fetch, not as a data: URL',
    );
  }
  let url: URL;
  try {
    url = new URL(image);
  } catch {
    throw refuse('bad_request', 'image must be an https URL');
  }
  if (url.protocol !== 'https:') throw refuse('bad_request', 'image must be an https URL (Luma fetches it)');
  return url.toString();
}

export function buildLumaGeneration(request: VideoRequest): LumaGeneration {
  const modelId = request.model ?? DEFAULT_LUMA_MODEL;
  const model = findLumaModel(modelId);
  if (!model) {
    throw refuse(
      'unsupported',
      `model ${quoted(modelId)} is not a supported Luma model (supported: ${LUMA_VIDEO_MODELS.map((entry) => entry.id).join(', ')})`,
    );
  }
  const prompt = request.prompt.trim();
  const image = request.image?.trim() || undefined;
  if (!prompt && !image) throw refuse('bad_request', 'prompt must not be empty');
  if (prompt && prompt.length < MIN_PROMPT) {
    throw refuse('bad_request', `prompt must be at least ${MIN_PROMPT} characters for Luma`);
  }
  if (prompt.length > MAX_PROMPT)
    throw refuse('bad_request', `prompt must be at most ${MAX_PROMPT} characters for Luma`);

  const durationSeconds = request.durationSeconds ?? DEFAULT_LUMA_DURATION_SECONDS;
  if (!model.durations.includes(durationSeconds)) {
    throw refuse(
      'unsupported',
      `durationSeconds ${quoted(durationSeconds)} is not supported by ${model.id} (supported: ${model.durations.join(', ')})`,
    );
  }
  const resolution = request.resolution ?? DEFAULT_LUMA_RESOLUTION;
  if (!model.resolutions.includes(resolution)) {
    throw refuse(
      'unsupported',
      `resolution ${quoted(resolution)} is not supported by ${model.id} (supported: ${model.resolutions.join(', ')})`,
    );
  }
  const aspectRatio = request.aspectRatio ?? DEFAULT_LUMA_ASPECT_RATIO;
  if (!model.aspectRatios.includes(aspectRatio)) {
    throw refuse(
      'unsupported',
      `aspectRatio ${quoted(aspectRatio)} is not supported by ${model.id} (supported: ${model.aspectRatios.join(', ')})`,
    );
  }

  const warnings: string[] = [];
  if (request.negativePrompt?.trim())
    warnings.push('negativePrompt is not supported by Luma and was not sent');
  if (request.seed !== undefined) warnings.push('seed is not supported by Luma and was not sent');
  const body: Record<string, unknown> = {
    model: model.id,
    ...(prompt ? { prompt } : {}),
    aspect_ratio: aspectRatio,
    duration: `${durationSeconds}s`,
    resolution,
  };
  if (image) body.keyframes = { frame0: { type: 'image', url: readImage(image) } };
  return { model: model.id, body, durationSeconds, resolution, warnings };
}
