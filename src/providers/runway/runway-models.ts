import type { VideoModelInfo } from '../spec.ts';

/**
 * The Runway video models Keyhaven exposes and the limits Runway's API enforces on them (read in the
 * request types of @runwayml/sdk 4.20): durations, and the `ratio` values each model accepts, keyed by
 * our aspect ratio and resolution. Some ratios exist only when an image is given.
 */
export const RUNWAY_API_VERSION = '2024-11-06';

/** Runway rejects promptText longer than this (UTF-16 code units). */
export const RUNWAY_MAX_PROMPT_LENGTH = 1000;

/** Runway refuses data URIs of 5 MiB or more. */
export const RUNWAY_MAX_DATA_URI_LENGTH = 5 * 1024 * 1024;

export interface RunwayRatio {
  aspectRatio: string;
  resolution: string;
  /** Runway's own `ratio` value: output width:height in pixels. */
  ratio: string;
  /** False when Runway accepts this ratio only with an input image (image_to_video). */
  textToVideo: boolean;
}

export interface RunwayVideoModelSpec {
  id: string;
  durations: readonly number[];
  defaultDurationSeconds: number;
  /** gen4_turbo animates an image and has no text-only mode. */
  imageRequired: boolean;
  /** Whether an image may stand in for the prompt text (gen4.5 always needs text). */
  promptOptionalWithImage: boolean;
  negativePrompt: boolean;
  ratios: readonly RunwayRatio[];
}

const GEN4_RATIOS: readonly RunwayRatio[] = [
  { aspectRatio: '16:9', resolution: '720p', ratio: '1280:720', textToVideo: true },
  { aspectRatio: '9:16', resolution: '720p', ratio: '720:1280', textToVideo: true },
  { aspectRatio: '4:3', resolution: '720p', ratio: '1104:832', textToVideo: false },
  { aspectRatio: '3:4', resolution: '720p', ratio: '832:1104', textToVideo: false },
  { aspectRatio: '1:1', resolution: '720p', ratio: '960:960', textToVideo: false },
  { aspectRatio: '21:9', resolution: '720p', ratio: '1584:672', textToVideo: false },
];

const VEO_RATIOS: readonly RunwayRatio[] = [
  { aspectRatio: '16:9', resolution: '720p', ratio: '1280:720', textToVideo: true },
  { aspectRatio: '9:16', resolution: '720p', ratio: '720:1280', textToVideo: true },
  { aspectRatio: '16:9', resolution: '1080p', ratio: '1920:1080', textToVideo: true },
  { aspectRatio: '9:16', resolution: '1080p', ratio: '1080:1920', textToVideo: true },
];

const TWO_TO_TEN_SECONDS = [2, 3, 4, 5, 6, 7, 8, 9, 10] as const;

export const RUNWAY_VIDEO_MODELS: readonly RunwayVideoModelSpec[] = [
  {
    id: 'gen4_turbo',
    durations: TWO_TO_TEN_SECONDS,
    defaultDurationSeconds: 5,
    imageRequired: true,
    promptOptionalWithImage: true,
    negativePrompt: false,
    ratios: GEN4_RATIOS,
  },
  {
    id: 'gen4.5',
    durations: TWO_TO_TEN_SECONDS,
    defaultDurationSeconds: 5,
    imageRequired: false,
    promptOptionalWithImage: false,
    negativePrompt: false,
    ratios: GEN4_RATIOS,
  },
  {
    id: 'veo3.1',
    durations: [4, 6, 8],
    defaultDurationSeconds: 8,
    imageRequired: false,
    promptOptionalWithImage: true,
    negativePrompt: true,
    ratios: VEO_RATIOS,
  },
  {
    id: 'veo3.1_fast',
    durations: [4, 6, 8],
    defaultDurationSeconds: 8,
    imageRequired: false,
    promptOptionalWithImage: true,
    negativePrompt: true,
    ratios: VEO_RATIOS,
  },
];

export function findRunwayVideoModel(id: string): RunwayVideoModelSpec | undefined {
  return RUNWAY_VIDEO_MODELS.find((model) => model.id === id);
}

const unique = (values: readonly string[]) => [...new Set(values)];

export function runwayVideoModelInfo(model: RunwayVideoModelSpec): VideoModelInfo {
  return {
    id: model.id,
    durations: model.durations,
    resolutions: unique(model.ratios.map((entry) => entry.resolution)),
    aspectRatios: unique(model.ratios.map((entry) => entry.aspectRatio)),
    imageInput: true,
  };
}
