/**
 * Stability's Stable Image generation models and the limits its v2beta API enforces: one endpoint per
 * family (`/v2beta/stable-image/generate/{core|ultra|sd3}`; the SD 3.5 models share /sd3 and are named
 * in a `model` field), nine aspect ratios, and the output formats each endpoint can encode.
 */
export const STABILITY_ASPECT_RATIOS = [
  '21:9',
  '16:9',
  '3:2',
  '5:4',
  '1:1',
  '4:5',
  '2:3',
  '9:16',
  '9:21',
] as const;

export const STABILITY_OUTPUT_FORMATS = ['png', 'jpeg', 'webp'] as const;

export const STABILITY_MAX_PROMPT_LENGTH = 10_000;

/** Stability's seed range; 0 asks for a random seed. */
export const STABILITY_MAX_SEED = 4_294_967_294;

export const STABILITY_VIDEO_RETIRED_ON = '2025-07-24';
export const STABILITY_VIDEO_RETIRED_REASON =
  'Stability AI discontinued its image-to-video API (Stable Video Diffusion)';

export interface StabilityImageModelSpec {
  id: string;
  endpoint: 'core' | 'ultra' | 'sd3';
  outputFormats: readonly string[];
  /** SD 3.5 Large Turbo ignores negative prompts, so Keyhaven does not send one. */
  negativePrompt: boolean;
}

export const STABILITY_IMAGE_MODELS: readonly StabilityImageModelSpec[] = [
  { id: 'core', endpoint: 'core', outputFormats: STABILITY_OUTPUT_FORMATS, negativePrompt: true },
  { id: 'ultra', endpoint: 'ultra', outputFormats: STABILITY_OUTPUT_FORMATS, negativePrompt: true },
  { id: 'sd3.5-large', endpoint: 'sd3', outputFormats: ['png', 'jpeg'], negativePrompt: true },
  { id: 'sd3.5-large-turbo', endpoint: 'sd3', outputFormats: ['png', 'jpeg'], negativePrompt: false },
  { id: 'sd3.5-medium', endpoint: 'sd3', outputFormats: ['png', 'jpeg'], negativePrompt: true },
];

export function findStabilityImageModel(id: string): StabilityImageModelSpec | undefined {
  return STABILITY_IMAGE_MODELS.find((model) => model.id === id);
}
