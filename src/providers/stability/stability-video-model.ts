import type { VideoModel } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';
import { STABILITY_VIDEO_RETIRED_ON, STABILITY_VIDEO_RETIRED_REASON } from './stability-models.ts';

/**
 * Stability's video API is gone. Asking for it fails here, before any network call and without
 * reading the credential, with the date, so a caller learns why instead of reading a provider 404.
 */
function retired(): UpstreamError {
  return new UpstreamError({
    provider: 'stability',
    kind: 'capability_retired',
    message: `video generation was retired by Stability AI on ${STABILITY_VIDEO_RETIRED_ON}: ${STABILITY_VIDEO_RETIRED_REASON}`,
  });
}

export const retiredStabilityVideoModel: VideoModel = {
  async start() {
    throw retired();
  },
  async status() {
    throw retired();
  },
  async cancel() {
    throw retired();
  },
};
