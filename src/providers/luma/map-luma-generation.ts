import { z } from 'zod';
import { EMPTY_USAGE, type VideoStatus } from '../spec.ts';
import type { LumaOperation } from './luma-operation.ts';

/**
 * A Luma Generation (`GET /generations/{id}`) as a VideoStatus. `queued` and `dreaming` are pending
 * (Luma reports no progress), `completed` carries `assets.video`, `failed` a `failure_reason`.
 */
export const lumaGenerationSchema = z.object({
  id: z.string(),
  state: z.enum(['queued', 'dreaming', 'completed', 'failed']),
  failure_reason: z.string().nullish(),
  assets: z
    .object({
      video: z.string().nullish(),
      image: z.string().nullish(),
      progress_video: z.string().nullish(),
    })
    .nullish(),
});

export type LumaGenerationObject = z.infer<typeof lumaGenerationSchema>;

/**
 * Luma's failure reasons (docs.lumalabs.ai/docs/errors): moderation verdicts and unreadable input
 * frames repeat on a retry; anything else is Luma's own failure, refunded, and worth one more try.
 */
function classify(reason: string): { code: string; retryable: boolean } {
  if (/moderation|blacklisted/i.test(reason)) return { code: 'content_filtered', retryable: false };
  if (/input frames|no keyframes|not supported|prompt is (required|too)/i.test(reason)) {
    return { code: 'bad_input', retryable: false };
  }
  return { code: 'generation_failed', retryable: true };
}

export function mapLumaGeneration(generation: LumaGenerationObject, operation: LumaOperation): VideoStatus {
  switch (generation.state) {
    case 'queued':
    case 'dreaming':
      return { state: 'pending' };
    case 'failed': {
      const reason = generation.failure_reason || 'Luma reported the generation as failed without a reason';
      return { state: 'failed', ...classify(reason), message: reason };
    }
    case 'completed': {
      const video = generation.assets?.video;
      if (!video) {
        return {
          state: 'failed',
          code: 'no_output',
          message: 'Luma completed the generation without a video',
          retryable: false,
        };
      }
      return {
        state: 'succeeded',
        outputs: [{ url: video, mediaType: 'video/mp4' }],
        usage: { ...EMPTY_USAGE, videoSeconds: operation.durationSeconds },
      };
    }
  }
}
