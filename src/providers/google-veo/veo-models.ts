import type { VideoModelInfo } from '../spec.ts';

/**
 * The Veo models Keyhaven offers and their limits (Gemini API and Vertex AI model cards). Google adds
 * one rule the lists cannot say: on Veo 3.x, 1080p and 4k come only at 8 seconds; the API refuses
 * other combinations with a 400, which comes back as a bad_request.
 */
const VEO_ASPECT_RATIOS = ['16:9', '9:16'] as const;

export const VEO_VIDEO_MODELS: readonly VideoModelInfo[] = [
  {
    id: 'veo-3.1-generate-preview',
    durations: [4, 6, 8],
    resolutions: ['720p', '1080p', '4k'],
    aspectRatios: VEO_ASPECT_RATIOS,
    imageInput: true,
  },
  {
    id: 'veo-3.1-fast-generate-preview',
    durations: [4, 6, 8],
    resolutions: ['720p', '1080p', '4k'],
    aspectRatios: VEO_ASPECT_RATIOS,
    imageInput: true,
  },
  {
    id: 'veo-3.0-generate-001',
    durations: [4, 6, 8],
    resolutions: ['720p', '1080p'],
    aspectRatios: VEO_ASPECT_RATIOS,
    imageInput: true,
  },
  {
    id: 'veo-3.0-fast-generate-001',
    durations: [4, 6, 8],
    resolutions: ['720p', '1080p'],
    aspectRatios: VEO_ASPECT_RATIOS,
    imageInput: true,
  },
  {
    id: 'veo-2.0-generate-001',
    durations: [5, 6, 7, 8],
    resolutions: ['720p'],
    aspectRatios: VEO_ASPECT_RATIOS,
    imageInput: true,
  },
];

/** The cheapest current model, used when a request names none. */
export const DEFAULT_VEO_MODEL = 'veo-3.1-fast-generate-preview';
/** Google's own defaults when a parameter is left out. */
export const DEFAULT_VEO_DURATION_SECONDS = 8;
export const DEFAULT_VEO_RESOLUTION = '720p';
export const DEFAULT_VEO_ASPECT_RATIO = '16:9';

export function findVeoModel(id: string): VideoModelInfo | undefined {
  return VEO_VIDEO_MODELS.find((model) => model.id === id);
}
