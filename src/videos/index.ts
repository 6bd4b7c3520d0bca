export { type PlannedAttempt, type ProviderChoice, planAttempt, planVideoJob } from './plan.ts';
export { jobView, type VideoJob, videoJobSchema, videoOutputSchema } from './video-job.ts';
export {
  MAX_BATCH,
  type VideoBatchInput,
  type VideoRequestInput,
  videoBatchSchema,
  videoRequestSchema,
} from './video-request.ts';
export {
  createVideoService,
  type VideoLogger,
  type VideoMetrics,
  type VideoService,
  type VideoServiceDependencies,
} from './video-service.ts';
export {
  INTERRUPTED_MESSAGE,
  type SubmissionLimiter,
  type VideoWorker,
  type VideoWorkerOptions,
} from './video-worker.ts';
