import type { VideoModel } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';

/**
 * Sora: OpenAI shut the Videos API down on 2026-09-24. Asking for it fails here, before any network
 * call, with the date, so a caller learns why instead of reading a provider 404.
 */
export const SORA_RETIRED_ON = '2026-09-24';
export const SORA_RETIRED_REASON =
  'OpenAI permanently shut down the Sora Videos API (sora-2, sora-2-pro and their snapshots)';

function retired(): UpstreamError {
  return new UpstreamError({
    provider: 'openai',
    kind: 'capability_retired',
    message: `video generation (Sora) was retired by OpenAI on ${SORA_RETIRED_ON}: ${SORA_RETIRED_REASON}`,
  });
}

export const retiredSoraVideoModel: VideoModel = {
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
