import { retiredVideoModel } from '../adapter-support.ts';
import { STABILITY_VIDEO_RETIRED_ON, STABILITY_VIDEO_RETIRED_REASON } from './stability-models.ts';

/** Stability's video API is gone (2025-07-24). */
export const retiredStabilityVideoModel = retiredVideoModel(
  'stability',
  `video generation was retired by Stability AI on ${STABILITY_VIDEO_RETIRED_ON}: ${STABILITY_VIDEO_RETIRED_REASON}`,
);
