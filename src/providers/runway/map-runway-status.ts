import { z } from 'zod';
import { EMPTY_USAGE, type VideoStatus } from '../spec.ts';
import type { RunwayOperation } from './runway-operation.ts';

/**
 * A Runway task (`GET /v1/tasks/{id}`, a union on `status`) as a VideoStatus. Runway reports progress
 * from 0 to 1 while RUNNING; output URLs are signed and expire within 24-48 hours.
 */
const taskBase = { id: z.string(), createdAt: z.string().optional() };

export const runwayTaskSchema = z.discriminatedUnion('status', [
  z.object({ ...taskBase, status: z.literal('PENDING') }),
  z.object({ ...taskBase, status: z.literal('THROTTLED') }),
  z.object({ ...taskBase, status: z.literal('RUNNING'), progress: z.number().optional() }),
  z.object({ ...taskBase, status: z.literal('SUCCEEDED'), output: z.array(z.string()) }),
  z.object({
    ...taskBase,
    status: z.literal('FAILED'),
    failure: z.string().optional(),
    failureCode: z.string().optional(),
  }),
  z.object({ ...taskBase, status: z.literal('CANCELLED') }),
]);

export type RunwayTask = z.infer<typeof runwayTaskSchema>;

/**
 * Runway's task-failure codes: SAFETY.* and INPUT_PREPROCESSING.SAFETY.* are moderation verdicts that
 * a retry repeats (and Runway asks not to retry); INTERNAL.* and INPUT_PREPROCESSING.INTERNAL are its
 * own failures and may be retried. Anything unknown is not retried: a retry spends credits again.
 */
export function isRetryableRunwayFailure(code: string | undefined): boolean {
  if (!code) return false;
  return /^INTERNAL(\.|$)/.test(code) || code === 'INPUT_PREPROCESSING.INTERNAL';
}

export function mapRunwayStatus(task: RunwayTask, operation: RunwayOperation): VideoStatus {
  switch (task.status) {
    case 'PENDING':
    case 'THROTTLED':
      return { state: 'pending' };
    case 'RUNNING':
      return task.progress === undefined
        ? { state: 'pending' }
        : { state: 'pending', progress: Math.min(1, Math.max(0, task.progress)) };
    case 'SUCCEEDED':
      return {
        state: 'succeeded',
        outputs: task.output.map((url) => ({ url, mediaType: 'video/mp4' })),
        usage: { ...EMPTY_USAGE, videoSeconds: operation.durationSeconds },
      };
    case 'FAILED':
      return {
        state: 'failed',
        code: task.failureCode ?? 'FAILED',
        message: task.failure ?? 'Runway reported the task as failed without a reason',
        retryable: isRetryableRunwayFailure(task.failureCode),
      };
    case 'CANCELLED':
      return {
        state: 'failed',
        code: 'cancelled',
        message: 'the task was cancelled',
        retryable: false,
      };
  }
}
