import type { VideoModelInfo } from '../spec.ts';

/**
 * Luma's video models and their limits (lumaai SDK `GenerationCreateParams`): 5 or 9 seconds, 540p to
 * 4k, seven aspect ratios, and a start frame given as an https image URL (a keyframe Luma fetches).
 */
const LUMA_ASPECT_RATIOS = ['16:9', '9:16', '1:1', '4:3', '3:4', '21:9', '9:21'] as const;

export const LUMA_VIDEO_MODELS: readonly VideoModelInfo[] = [
  {
    id: 'ray-2',
    durations: [5, 9],
    resolutions: ['540p', '720p', '1080p', '4k'],
    aspectRatios: LUMA_ASPECT_RATIOS,
    imageInput: true,
  },
  {
    id: 'ray-flash-2',
    durations: [5, 9],
    resolutions: ['540p', '720p', '1080p', '4k'],
    aspectRatios: LUMA_ASPECT_RATIOS,
    imageInput: true,
  },
];

/** The faster, cheaper model, used when a request names none. */
export const DEFAULT_LUMA_MODEL = 'ray-flash-2';
export const DEFAULT_LUMA_DURATION_SECONDS = 5;
export const DEFAULT_LUMA_RESOLUTION = '720p';
export const DEFAULT_LUMA_ASPECT_RATIO = '16:9';

export function findLumaModel(id: string): VideoModelInfo | undefined {
  return LUMA_VIDEO_MODELS.find((model) => model.id === id);
}
