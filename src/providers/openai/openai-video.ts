import { retiredVideoModel } from '../adapter-support.ts';

/** Sora: OpenAI shut the Videos API down on 2026-09-24. */
export const SORA_RETIRED_ON = '2026-09-24';
export const SORA_RETIRED_REASON =
  'OpenAI permanently shut down the Sora Videos API (sora-2, sora-2-pro and their snapshots)';

export const retiredSoraVideoModel = retiredVideoModel(
  'openai',
  `video generation (Sora) was retired by OpenAI on ${SORA_RETIRED_ON}: ${SORA_RETIRED_REASON}`,
);
