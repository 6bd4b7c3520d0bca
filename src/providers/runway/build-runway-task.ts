import type { VideoRequest } from '../spec.ts';
import { UpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import {
  findRunwayVideoModel,
  RUNWAY_MAX_DATA_URI_LENGTH,
  RUNWAY_MAX_PROMPT_LENGTH,
  RUNWAY_VIDEO_MODELS,
  type RunwayRatio,
  type RunwayVideoModelSpec,
} from './runway-models.ts';

/**
 * Turns a video request into the Runway call that serves it, or refuses it before any network call
 * when Runway would: a value outside the model's limits is refused (naming the field and the allowed
 * values) rather than silently replaced; an option the model does not have becomes a warning.
 */
export interface RunwayTask {
  path: '/v1/text_to_video' | '/v1/image_to_video';
  body: Record<string, unknown>;
  model: string;
  durationSeconds: number;
  resolution: string;
  warnings: string[];
}

const MAX_SEED = 4_294_967_295;

function refuse(kind: UpstreamErrorKind, message: string): UpstreamError {
  return new UpstreamError({ provider: 'runway', kind, message });
}

function chooseModel(request: VideoRequest): RunwayVideoModelSpec {
  // gen4_turbo is the cheapest model but needs an image; gen4.5 also works from text alone.
  const id = request.model ?? (request.image ? 'gen4_turbo' : 'gen4.5');
  const model = findRunwayVideoModel(id);
  if (!model) {
    throw refuse(
      'unsupported',
      `model ${JSON.stringify(id).slice(0, 80)} is not a supported Runway video model (supported: ${RUNWAY_VIDEO_MODELS.map((entry) => entry.id).join(', ')})`,
    );
  }
  return model;
}

function checkImage(image: string): void {
  if (image.startsWith('data:')) {
    if (!/^data:image\/[a-z0-9.+-]+;base64,/i.test(image))
      throw refuse('bad_request', 'image must be a base64 data URI of an image (data:image/...;base64,...)');
    if (image.length >= RUNWAY_MAX_DATA_URI_LENGTH)
      throw refuse('bad_request', 'image as a data URI must be under 5 MiB; pass an https URL instead');
    return;
  }
  let url: URL;
  try {
    url = new URL(image);
  } catch {
    throw refuse('bad_request', 'image must be an https URL or a data:image/...;base64 URI');
  }
  if (url.protocol !== 'https:')
    throw refuse('bad_request', 'image URLs must use https (Runway fetches them)');
}

function chooseRatio(model: RunwayVideoModelSpec, request: VideoRequest, withImage: boolean): RunwayRatio {
  const usable = model.ratios.filter((entry) => withImage || entry.textToVideo);
  const mode = withImage ? 'with an image' : 'from text alone';
  const asked = request.aspectRatio ?? '16:9';
  // Runway's own ratio strings ("1280:720") are accepted as they are.
  const native = usable.find((entry) => entry.ratio === asked);
  const byAspect = native ? [native] : usable.filter((entry) => entry.aspectRatio === asked);
  if (byAspect.length === 0) {
    const supported = [...new Set(usable.map((entry) => entry.aspectRatio))].join(', ');
    throw refuse(
      'unsupported',
      `aspectRatio ${JSON.stringify(asked).slice(0, 40)} is not supported by ${model.id} ${mode} (supported: ${supported})`,
    );
  }
  const [first] = byAspect;
  const resolution = request.resolution ?? first?.resolution;
  const chosen = byAspect.find((entry) => entry.resolution === resolution);
  if (!chosen) {
    const supported = byAspect.map((entry) => entry.resolution).join(', ');
    throw refuse(
      'unsupported',
      `resolution ${JSON.stringify(resolution).slice(0, 40)} is not supported by ${model.id} at ${asked} (supported: ${supported})`,
    );
  }
  return chosen;
}

export function buildRunwayTask(request: VideoRequest): RunwayTask {
  const model = chooseModel(request);
  const image = request.image?.trim() || undefined;
  if (model.imageRequired && !image) {
    throw refuse(
      'bad_request',
      `image is required: ${model.id} turns an image into a video; pass an image, or choose gen4.5 or veo3.1 for text-to-video`,
    );
  }
  if (image) checkImage(image);

  const prompt = request.prompt.trim();
  if (!prompt && !(image && model.promptOptionalWithImage))
    throw refuse('bad_request', `prompt must not be empty for ${model.id}`);
  if (prompt.length > RUNWAY_MAX_PROMPT_LENGTH)
    throw refuse('bad_request', `prompt must be at most ${RUNWAY_MAX_PROMPT_LENGTH} characters for Runway`);

  const durationSeconds = request.durationSeconds ?? model.defaultDurationSeconds;
  if (!model.durations.includes(durationSeconds)) {
    throw refuse(
      'unsupported',
      `durationSeconds ${durationSeconds} is not supported by ${model.id} (supported: ${model.durations.join(', ')})`,
    );
  }
  if (
    request.seed !== undefined &&
    !(Number.isInteger(request.seed) && request.seed >= 0 && request.seed <= MAX_SEED)
  )
    throw refuse('bad_request', `seed must be an integer from 0 to ${MAX_SEED}`);

  const ratio = chooseRatio(model, request, image !== undefined);
  const warnings: string[] = [];
  const body: Record<string, unknown> = { model: model.id };
  if (image) body.promptImage = image;
  if (prompt) body.promptText = prompt;
  body.ratio = ratio.ratio;
  body.duration = durationSeconds;
  if (request.seed !== undefined) body.seed = request.seed;
  if (request.negativePrompt) {
    if (model.negativePrompt) body.negativePrompt = request.negativePrompt;
    else warnings.push(`negativePrompt is not supported by ${model.id} and was not sent`);
  }
  return {
    path: image ? '/v1/image_to_video' : '/v1/text_to_video',
    body,
    model: model.id,
    durationSeconds,
    resolution: ratio.resolution,
    warnings,
  };
}
