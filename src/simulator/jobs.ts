import { randomUUID } from 'node:crypto';

/**
 * Long-running jobs that progress over polls: each status read advances a job by one step, so tests
 * control timing by polling rather than by waiting. Jobs fail when started under a jobFailure fault or
 * with a prompt containing "simulate:fail".
 */
export interface SimulatedJob {
  id: string;
  provider: string;
  key: string;
  model: string;
  prompt: string;
  durationSeconds: number;
  resolution: string;
  createdAt: Date;
  polls: number;
  pollsToFinish: number;
  fails: boolean;
  cancelled: boolean;
}

export interface JobStore {
  create(job: Omit<SimulatedJob, 'id' | 'createdAt' | 'polls' | 'cancelled'> & { id?: string }): SimulatedJob;
  /** Advances the job by one poll and returns it. */
  poll(id: string): SimulatedJob | undefined;
  get(id: string): SimulatedJob | undefined;
  cancel(id: string): boolean;
  progress(job: SimulatedJob): number;
  state(job: SimulatedJob): 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  clear(): void;
}

export function createJobStore(): JobStore {
  const jobs = new Map<string, SimulatedJob>();
  const store: JobStore = {
    create(input) {
      const job: SimulatedJob = {
        ...input,
        id: input.id ?? randomUUID(),
        createdAt: new Date(),
        polls: 0,
        cancelled: false,
      };
      jobs.set(job.id, job);
      return job;
    },
    poll(id) {
      const job = jobs.get(id);
      if (job && !job.cancelled) job.polls += 1;
      return job;
    },
    get: (id) => jobs.get(id),
    cancel(id) {
      const job = jobs.get(id);
      if (!job) return false;
      job.cancelled = true;
      return true;
    },
    progress: (job) => Math.min(1, job.polls / job.pollsToFinish),
    state(job) {
      if (job.cancelled) return 'cancelled';
      if (job.polls === 0) return 'pending';
      if (job.polls < job.pollsToFinish) return 'running';
      return job.fails ? 'failed' : 'succeeded';
    },
    clear: () => jobs.clear(),
  };
  return store;
}
