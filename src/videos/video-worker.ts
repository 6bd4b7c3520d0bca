import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { KeyhavenError } from '../errors.ts';
import type { PriceTable } from '../providers/prices/index.ts';
import {
  EMPTY_USAGE,
  type ProviderAdapter,
  type ProviderDefinition,
  type VideoStatus,
} from '../providers/spec.ts';
import { isUpstreamError } from '../providers/upstream-error.ts';
import type { Tables } from '../store/index.ts';
import type { VideoAttemptRow, VideoJobRow, VideoJobUpdate } from '../store/video-tables.ts';
import type { Budgets } from '../usage/budgets.ts';
import type { UsageMeter, UsageRecord } from '../usage/meter.ts';
import type { Vault } from '../vault/index.ts';
import type { EventSink } from '../webhooks/events.ts';
import { currentEntry, holderOf, jobView, withoutKeyParameter } from './video-job.ts';
import type { VideoLogger, VideoMetrics } from './video-service.ts';

/**
 * The poll worker. The jobs table is the queue: each round claims due jobs with FOR UPDATE SKIP LOCKED
 * and a lease, takes one step per job (submit, or one status read, or finishing up) and writes back only
 * while its lease holds. Steps are idempotent across crashes:
 * - an attempt is stored as `submitting` (committed) before start() is called and gets its operation
 *   right after; an attempt found `submitting` without an operation was interrupted and is never sent
 *   again to the same provider (failover, or the job fails);
 * - the end of a job (release the pinned credentials, emit the event, record usage) runs until
 *   `finalized_at` is set, so a crash in between is finished by whichever worker comes next.
 */
export interface VideoWorkerOptions {
  /** Run the worker in this process. Default true. */
  enabled?: boolean;
  /** How often an idle worker looks for due jobs. */
  pollIntervalMs?: number;
  /** Wait before the first status read of a started job, doubling (×1.5) per poll up to maxPollDelayMs. */
  initialPollDelayMs?: number;
  maxPollDelayMs?: number;
  /** How long a claim holds; renewed while a step runs. */
  leaseMs?: number;
  /** Jobs one worker steps at the same time. */
  concurrency?: number;
  /** Consecutive failed status reads (network, 5xx) before the attempt counts as failed. */
  maxPollErrors?: number;
  /** A job still unfinished this long after submission fails with `timeout`. */
  timeoutMs?: number;
  /** Each provider call is aborted after this long. */
  requestTimeoutMs?: number;
  /** On shutdown, steps in flight get this long before their provider calls are aborted. */
  shutdownGraceMs?: number;
}

/** Per-user, per-provider limits on submissions (the gateway's limiter fits). */
export interface SubmissionLimiter {
  consume(
    userId: string,
    provider: string,
  ): Promise<{ allowed: true } | { allowed: false; retryAfterMs: number }>;
}

export interface VideoWorkerDependencies extends VideoWorkerOptions {
  db: Kysely<Tables>;
  /** Re-estimates the cost when the provider picks another model than planned. */
  prices?: Pick<PriceTable, 'cost'> | undefined;
  /** Checked before each submission; a refused one waits (the job stays queued) instead of failing. */
  rateLimiter?: SubmissionLimiter | undefined;
  vault: Pick<Vault, 'release' | 'revealVersion' | 'markInvalid'>;
  providers: {
    adapter(
      id: string,
      credentials: Parameters<ProviderDefinition['createAdapter']>[0]['credentials'],
    ): ProviderAdapter;
  };
  events: EventSink;
  usage: UsageMeter;
  /** Settles a job's budget reservation (made at submission) with its real cost when it ends. */
  budgets?: Pick<Budgets, 'settleVideoJob'> | undefined;
  metrics: VideoMetrics;
  clock: () => Date;
  log: VideoLogger;
  attemptsOf(userId: string, jobIds: string[]): Promise<Map<string, VideoAttemptRow[]>>;
}

export const INTERRUPTED_MESSAGE =
  'interrupted during submission; not resubmitted to avoid a duplicate charge';
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

interface AttemptFailure {
  code: string;
  message: string;
  /** May the next provider of the plan take over? */
  failover: boolean;
}

const clip = (text: string) => text.slice(0, 1000);
/** Rolls a transaction back when the job stopped being ours (canceled, or claimed after our lease ran out). */
const LEASE_LOST = new Error('video job lease lost');

export function createVideoWorker({
  db,
  vault,
  providers,
  events,
  usage,
  metrics,
  clock,
  log,
  attemptsOf,
  rateLimiter,
  prices,
  budgets,
  enabled = true,
  pollIntervalMs = 1_000,
  initialPollDelayMs = 2_000,
  maxPollDelayMs = 30_000,
  leaseMs = 60_000,
  concurrency = 8,
  maxPollErrors = 10,
  timeoutMs = 2 * 3_600_000,
  requestTimeoutMs = 60_000,
  shutdownGraceMs = 5_000,
}: VideoWorkerDependencies) {
  const owner = `worker:${randomBytes(8).toString('hex')}`;
  const held = new Map<string, VideoJobRow>();
  const keyOf = (row: Pick<VideoJobRow, 'user_id' | 'id'>) => `${row.user_id}\u0000${row.id}`;
  let running = false;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  const abort = new AbortController();

  const later = (milliseconds: number) => new Date(clock().getTime() + milliseconds);
  const pollDelay = (polls: number) =>
    Math.min(maxPollDelayMs, Math.round(initialPollDelayMs * 1.5 ** Math.max(0, polls)));
  const signal = () => AbortSignal.any([abort.signal, AbortSignal.timeout(requestTimeoutMs)]);

  function adapterFor(row: VideoJobRow): ProviderAdapter {
    const entry = currentEntry(row);
    return providers.adapter(entry.provider, async () => {
      const revealed = await vault.revealVersion({
        userId: row.user_id,
        credentialId: entry.credentialId,
        purpose: 'video',
      });
      return revealed.credentials;
    });
  }

  /** Writes to a job this worker holds; false when the lease was lost or the job was canceled meanwhile. */
  async function updateHeld(
    executor: Kysely<Tables>,
    row: VideoJobRow,
    values: VideoJobUpdate,
  ): Promise<VideoJobRow | undefined> {
    return executor
      .updateTable('video_jobs')
      .set({ ...values, updated_at: clock() })
      .where('user_id', '=', row.user_id)
      .where('id', '=', row.id)
      .where('lease_owner', '=', owner)
      .where('status', 'in', ['queued', 'running'])
      .returningAll()
      .executeTakeFirst();
  }

  async function claim(limit: number): Promise<VideoJobRow[]> {
    const now = clock();
    // Never what this worker is stepping already (its lease may have run out mid-step).
    const stepping = [...held.values()];
    return db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom('video_jobs')
        .select(['user_id', 'id'])
        .where('finalized_at', 'is', null)
        .where('next_poll_at', '<=', now)
        .where((eb) => eb.or([eb('lease_owner', 'is', null), eb('lease_expires_at', '<', now)]));
      if (stepping.length > 0) {
        query = query.where((eb) =>
          eb.not(
            eb.or(stepping.map((job) => eb.and([eb('user_id', '=', job.user_id), eb('id', '=', job.id)]))),
          ),
        );
      }
      const due = await query.orderBy('next_poll_at').limit(limit).forUpdate().skipLocked().execute();
      if (due.length === 0) return [];
      return trx
        .updateTable('video_jobs')
        .set({ lease_owner: owner, lease_expires_at: new Date(now.getTime() + leaseMs) })
        .where((eb) =>
          eb.or(due.map((job) => eb.and([eb('user_id', '=', job.user_id), eb('id', '=', job.id)]))),
        )
        .returningAll()
        .execute();
    });
  }

  async function renewLeases(): Promise<void> {
    const jobs = [...held.values()];
    if (jobs.length === 0) return;
    await db
      .updateTable('video_jobs')
      .set({ lease_expires_at: later(leaseMs) })
      .where('lease_owner', '=', owner)
      .where((eb) =>
        eb.or(jobs.map((job) => eb.and([eb('user_id', '=', job.user_id), eb('id', '=', job.id)]))),
      )
      .execute();
  }

  async function releaseLease(row: Pick<VideoJobRow, 'user_id' | 'id'>, leaseOwner = owner): Promise<void> {
    await db
      .updateTable('video_jobs')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('user_id', '=', row.user_id)
      .where('id', '=', row.id)
      .where('lease_owner', '=', leaseOwner)
      .execute();
  }

  async function attemptRow(row: VideoJobRow): Promise<VideoAttemptRow | undefined> {
    return db
      .selectFrom('video_attempts')
      .selectAll()
      .where('user_id', '=', row.user_id)
      .where('job_id', '=', row.id)
      .where('attempt', '=', row.attempt_index)
      .executeTakeFirst();
  }

  /**
   * Ends the current attempt with an error: the next planned provider takes over when allowed and there
   * is one, otherwise the job fails. Returns the job as written (undefined when no longer ours).
   */
  async function failAttempt(row: VideoJobRow, failure: AttemptFailure): Promise<VideoJobRow | undefined> {
    const now = clock();
    const next = row.attempt_index + 1;
    const failover = failure.failover && next < row.plan.length;
    return db.transaction().execute(async (trx) => {
      const written = await updateHeld(
        trx,
        row,
        failover
          ? {
              attempt_index: next,
              status: 'running',
              operation: null,
              progress: null,
              polls: 0,
              poll_errors: 0,
              next_poll_at: now,
            }
          : {
              status: 'failed',
              operation: null,
              error_code: failure.code,
              error_message: clip(failure.message),
              completed_at: now,
              next_poll_at: now,
            },
      );
      if (!written) return undefined;
      await trx
        .updateTable('video_attempts')
        .set({
          status: 'failed',
          error_code: failure.code,
          error_message: clip(failure.message),
          ended_at: now,
        })
        .where('user_id', '=', row.user_id)
        .where('job_id', '=', row.id)
        .where('attempt', '=', row.attempt_index)
        .where('status', 'in', ['submitting', 'running'])
        .execute();
      return written;
    });
  }

  /** A credential the provider refused: marked invalid in the vault and reported to the application. */
  async function credentialRefused(row: VideoJobRow, message: string): Promise<void> {
    const entry = currentEntry(row);
    try {
      await vault.markInvalid({
        userId: row.user_id,
        provider: entry.provider,
        reason: clip(message),
        credentialId: entry.credentialId,
        actor: 'video-worker',
      });
      await events.emit({
        type: 'credential.invalid',
        userId: row.user_id,
        data: {
          provider: entry.provider,
          credentialVersion: entry.credentialVersion,
          reason: clip(message),
          videoJobId: row.id,
        },
      });
    } catch (error) {
      log.warn(
        { err: error, jobId: row.id, provider: entry.provider },
        'video: reporting a refused credential failed',
      );
    }
  }

  /** What a provider call's failure means for the attempt. */
  async function failureOf(row: VideoJobRow, error: unknown): Promise<AttemptFailure | undefined> {
    if (isUpstreamError(error)) {
      if (error.kind === 'authentication' || error.kind === 'permission') {
        await credentialRefused(row, error.message);
      }
      metrics.upstreamError?.(currentEntry(row).provider, error.kind);
      return { code: error.kind, message: error.message, failover: true };
    }
    if (error instanceof KeyhavenError) {
      // The pinned credential is gone (the user removed it or was shredded) or cannot be decrypted.
      const code = error.code === 'not_found' ? 'credential_missing' : error.code;
      const message =
        error.code === 'not_found'
          ? `the ${currentEntry(row).provider} credential this job was submitted with no longer exists`
          : 'the credential this job was submitted with could not be used';
      return { code, message, failover: true };
    }
    return undefined;
  }

  /** The plan with the current attempt's model (and estimate) as the provider actually chose it. */
  function replanned(row: VideoJobRow, model: string) {
    return row.plan.map((planned, index) =>
      index === row.attempt_index
        ? {
            ...planned,
            model,
            estimatedCost: prices
              ? prices.cost(
                  planned.provider,
                  model,
                  { ...EMPTY_USAGE, videoSeconds: planned.durationSeconds },
                  { resolution: planned.resolution },
                )
              : planned.estimatedCost,
          }
        : planned,
    );
  }

  async function submit(row: VideoJobRow): Promise<VideoJobRow | undefined> {
    const entry = currentEntry(row);
    if (rateLimiter) {
      let decision: Awaited<ReturnType<SubmissionLimiter['consume']>>;
      try {
        decision = await rateLimiter.consume(row.user_id, entry.provider);
      } catch (error) {
        log.warn({ err: error, jobId: row.id }, 'video: the rate limiter failed; the submission waits');
        return updateHeld(db, row, { next_poll_at: later(pollDelay(row.polls + 1)) });
      }
      if (!decision.allowed) {
        return updateHeld(db, row, { next_poll_at: later(Math.max(pollIntervalMs, decision.retryAfterMs)) });
      }
    }
    const now = clock();
    // Durably "submitting" before the provider hears of it: a crash from here on never resubmits.
    const started = await db.transaction().execute(async (trx) => {
      const written = await updateHeld(trx, row, { status: 'running', operation: null });
      if (!written) return undefined;
      await trx
        .insertInto('video_attempts')
        .values({
          user_id: row.user_id,
          job_id: row.id,
          attempt: row.attempt_index,
          provider: entry.provider,
          model: entry.model,
          credential_id: entry.credentialId,
          credential_version: entry.credentialVersion,
          status: 'submitting',
          started_at: now,
        })
        .execute();
      return written;
    });
    if (!started) return undefined;
    if (row.status === 'queued') metrics.videoJob(entry.provider, 'running');
    const adapter = adapterFor(started);
    const request = started.request;
    let operation: string;
    let model = entry.model;
    try {
      if (!adapter.video)
        throw new KeyhavenError('unsupported_request', `${entry.provider} does not generate video`);
      const result = await adapter.video.start({
        prompt: request.prompt,
        // Without a model named, the adapter picks its own default for the input (Runway's text-to-video
        // default differs from its image-to-video one); the attempt records the model it used.
        ...(request.model === undefined ? {} : { model: request.model }),
        durationSeconds: entry.durationSeconds,
        aspectRatio: entry.aspectRatio,
        resolution: entry.resolution,
        ...(request.negativePrompt === undefined ? {} : { negativePrompt: request.negativePrompt }),
        ...(request.seed === undefined ? {} : { seed: request.seed }),
        ...(request.image === undefined ? {} : { image: request.image }),
        signal: signal(),
      });
      operation = result.operation;
      model = result.model;
    } catch (error) {
      const failure = (await failureOf(started, error)) ?? {
        code: 'internal',
        message: 'the provider call failed unexpectedly',
        failover: true,
      };
      if (failure.code === 'internal')
        log.error({ err: error, jobId: row.id }, 'video: start failed unexpectedly');
      return failAttempt(started, failure);
    }
    // The attempt and the job take the operation together, or neither does.
    const recorded = await db
      .transaction()
      .execute(async (trx) => {
        const attempt = await trx
          .updateTable('video_attempts')
          .set({ operation, model, status: 'running' })
          .where('user_id', '=', row.user_id)
          .where('job_id', '=', row.id)
          .where('attempt', '=', row.attempt_index)
          .where('status', '=', 'submitting')
          .returning('attempt')
          .executeTakeFirst();
        if (!attempt) return undefined;
        const written = await updateHeld(trx, started, {
          operation,
          ...(model === entry.model ? {} : { plan: JSON.stringify(replanned(started, model)) }),
          polls: 0,
          poll_errors: 0,
          next_poll_at: later(initialPollDelayMs),
        });
        if (!written) throw LEASE_LOST;
        return written;
      })
      .catch((error: unknown) => {
        if (error === LEASE_LOST) return undefined;
        throw error;
      });
    if (!recorded) {
      // Canceled (or taken over) while the provider was starting it: stop what we just started.
      await db
        .updateTable('video_attempts')
        .set({ operation })
        .where('user_id', '=', row.user_id)
        .where('job_id', '=', row.id)
        .where('attempt', '=', row.attempt_index)
        .where('operation', 'is', null)
        .execute();
      await cancelUpstream(started, operation);
    }
    return recorded;
  }

  async function succeed(row: VideoJobRow, status: Extract<VideoStatus, { state: 'succeeded' }>) {
    const now = clock();
    const outputs = status.outputs.map((output) => ({
      url: withoutKeyParameter(output.url),
      ...(output.mediaType === undefined ? {} : { mediaType: output.mediaType }),
    }));
    return db.transaction().execute(async (trx) => {
      const written = await updateHeld(trx, row, {
        status: 'succeeded',
        outputs: JSON.stringify(outputs),
        progress: 1,
        completed_at: now,
        next_poll_at: now,
        error_code: null,
        error_message: null,
        video_seconds: status.usage.videoSeconds,
      });
      if (!written) return undefined;
      await trx
        .updateTable('video_attempts')
        .set({ status: 'succeeded', ended_at: now })
        .where('user_id', '=', row.user_id)
        .where('job_id', '=', row.id)
        .where('attempt', '=', row.attempt_index)
        .execute();
      return written;
    });
  }

  async function poll(row: VideoJobRow, operation: string): Promise<VideoJobRow | undefined> {
    const adapter = adapterFor(row);
    let status: VideoStatus;
    try {
      if (!adapter.video)
        throw new KeyhavenError('unsupported_request', 'the provider does not generate video');
      status = await adapter.video.status(operation, { signal: signal() });
    } catch (error) {
      if (isUpstreamError(error) && error.retryable && row.poll_errors + 1 < maxPollErrors) {
        metrics.upstreamError?.(currentEntry(row).provider, error.kind);
        return updateHeld(db, row, {
          poll_errors: row.poll_errors + 1,
          next_poll_at: later(Math.max(error.retryAfterMs ?? 0, pollDelay(row.polls + row.poll_errors + 1))),
        });
      }
      const failure = await failureOf(row, error);
      if (!failure) throw error;
      return failAttempt(row, failure);
    }
    if (status.state === 'pending') {
      return updateHeld(db, row, {
        polls: row.polls + 1,
        poll_errors: 0,
        progress: status.progress ?? row.progress,
        next_poll_at: later(pollDelay(row.polls + 1)),
      });
    }
    if (status.state === 'failed') {
      return failAttempt(row, { code: status.code, message: status.message, failover: status.retryable });
    }
    return succeed(row, status);
  }

  /** One step of one claimed job. */
  async function step(row: VideoJobRow): Promise<void> {
    let current: VideoJobRow | undefined = row;
    if (!TERMINAL.has(row.status)) {
      if (clock().getTime() - new Date(row.created_at).getTime() > timeoutMs) {
        current = await failAttempt(row, {
          code: 'timeout',
          message: `the job did not finish within ${Math.round(timeoutMs / 1000)} s`,
          failover: false,
        });
        // Nobody will read the result: the provider may stop (and stop billing) now.
        if (current && row.operation !== null) await cancelUpstream(row, row.operation);
      } else {
        const attempt = row.status === 'queued' ? undefined : await attemptRow(row);
        if (!attempt) current = await submit(row);
        else if (attempt.status === 'submitting' && attempt.operation === null) {
          current = await failAttempt(row, {
            code: 'submission_interrupted',
            message: INTERRUPTED_MESSAGE,
            failover: true,
          });
        } else if (attempt.status === 'running' && row.operation !== null) {
          current = await poll(row, row.operation);
        } else if (attempt.status === 'running' && attempt.operation !== null) {
          current = await poll(row, attempt.operation);
        } else {
          // The attempt ended but the job did not move on (a crash between two writes): move on now.
          current = await failAttempt(row, {
            code: attempt.error_code ?? 'interrupted',
            message: attempt.error_message ?? 'the attempt ended without a result',
            failover: true,
          });
        }
      }
    }
    if (current && TERMINAL.has(current.status)) await finalize(current, owner);
  }

  /**
   * The end of a job, once: release its pinned credentials, emit its event, record its usage, count it.
   * Run by whoever holds the lease; `finalized_at` marks it done.
   */
  async function finalize(row: VideoJobRow, leaseOwner: string): Promise<void> {
    const entry = currentEntry(row);
    for (const credentialId of new Set(row.plan.map((planned) => planned.credentialId))) {
      await vault
        .release({ userId: row.user_id, credentialId, holder: holderOf(row.id) })
        .catch((error: unknown) => {
          // A credential deleted meanwhile has no reference left to release.
          if (!(error instanceof KeyhavenError && error.code === 'not_found')) throw error;
        });
    }
    const attempts = (await attemptsOf(row.user_id, [row.id])).get(row.id) ?? [];
    const view = jobView(row, attempts);
    if (row.status === 'succeeded' || row.status === 'failed') {
      await events.emit({
        type: row.status === 'succeeded' ? 'video.succeeded' : 'video.failed',
        userId: row.user_id,
        data: view,
        ...(row.webhook_url === null ? {} : { webhookUrl: row.webhook_url }),
      });
    }
    const finished = await db
      .updateTable('video_jobs')
      .set({ finalized_at: clock(), lease_owner: null, lease_expires_at: null })
      .where('user_id', '=', row.user_id)
      .where('id', '=', row.id)
      .where('finalized_at', 'is', null)
      .where('lease_owner', '=', leaseOwner)
      .returning('id')
      .executeTakeFirst();
    if (!finished) return;
    const provider = attempts.at(-1)?.provider ?? entry.provider;
    let record: UsageRecord | undefined;
    if (row.status === 'succeeded') {
      const completedAt = row.completed_at === null ? clock() : new Date(row.completed_at);
      record = {
        userId: row.user_id,
        provider,
        model: attempts.at(-1)?.model ?? entry.model,
        credentialVersion: attempts.at(-1)?.credential_version ?? entry.credentialVersion,
        requestId: row.id,
        route: 'video',
        inputTokens: 0,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        videoSeconds: row.video_seconds ?? entry.durationSeconds,
        images: 0,
        // Veo's price depends on it: without it the call would count as unpriced.
        resolution: entry.resolution,
        status: 200,
        latencyMs: Math.max(0, completedAt.getTime() - new Date(row.created_at).getTime()),
        occurredAt: completedAt,
      };
      usage.record(record);
    }
    metrics.videoJob(provider, row.status);
    // A failed or canceled job releases its reservation; a succeeded one is charged what it cost.
    await budgets
      ?.settleVideoJob(row.user_id, row.id, record)
      .catch((error: unknown) =>
        log.error(
          { err: error, jobId: row.id },
          'video: settling the budget failed; the reservation expires',
        ),
      );
  }

  /** Asks the provider to stop an operation; best effort (a provider without cancel just finishes). */
  async function cancelUpstream(row: VideoJobRow, operation: string): Promise<void> {
    try {
      await adapterFor(row).video?.cancel?.(operation);
    } catch (error) {
      log.warn({ err: error, jobId: row.id }, 'video: the provider did not confirm the cancel');
    }
  }

  async function runStep(row: VideoJobRow): Promise<void> {
    try {
      await step(row);
    } catch (error) {
      log.error({ err: error, jobId: row.id }, 'video: a job step failed; it is retried later');
      await db
        .updateTable('video_jobs')
        .set({ next_poll_at: later(pollDelay(row.polls + 1)) })
        .where('user_id', '=', row.user_id)
        .where('id', '=', row.id)
        .where('lease_owner', '=', owner)
        .execute()
        .catch(() => {});
    } finally {
      await releaseLease(row).catch(() => {});
    }
  }

  async function run(): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    while (running) {
      let claimed: VideoJobRow[] = [];
      if (inFlight.size < concurrency) {
        try {
          claimed = await claim(concurrency - inFlight.size);
        } catch (error) {
          if (running) log.error({ err: error }, 'video: claiming jobs failed');
        }
      }
      for (const row of claimed) {
        // Already stepping it (its lease ran out mid-step and we claimed it again): one step at a time.
        if (held.has(keyOf(row))) continue;
        held.set(keyOf(row), row);
        const task: Promise<void> = runStep(row).finally(() => {
          held.delete(keyOf(row));
          inFlight.delete(task);
          metrics.videoJobsActive.set(held.size);
          wake();
        });
        inFlight.add(task);
      }
      metrics.videoJobsActive.set(held.size);
      if (claimed.length > 0 && inFlight.size < concurrency) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollIntervalMs);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    }
    // Shutdown: let steps in flight finish, then abort their provider calls.
    const grace = setTimeout(() => abort.abort(), shutdownGraceMs);
    await Promise.allSettled([...inFlight]);
    clearTimeout(grace);
  }

  function wake(): void {
    wakeUp?.();
  }

  return {
    owner,
    leaseMs,
    start(): void {
      if (!enabled || running) return;
      running = true;
      renewTimer = setInterval(
        () => {
          renewLeases().catch((error: unknown) => log.warn({ err: error }, 'video: renewing leases failed'));
        },
        Math.max(10, Math.floor(leaseMs / 3)),
      );
      renewTimer.unref();
      loop = run();
    },
    /** Stops claiming, lets steps in flight end (aborting them after the grace period), releases leases. */
    async stop(): Promise<void> {
      if (!running) return;
      running = false;
      wake();
      await loop;
      clearInterval(renewTimer);
      await db
        .updateTable('video_jobs')
        .set({ lease_owner: null, lease_expires_at: null })
        .where('lease_owner', '=', owner)
        .execute();
      metrics.videoJobsActive.set(0);
    },
    wake,
    finalize,
    cancelUpstream,
    /** Claims and steps due jobs once, in this call (tests and tools that drive the queue by hand). */
    async runOnce(): Promise<number> {
      const claimed = await claim(concurrency);
      await Promise.all(claimed.map((row) => runStep(row)));
      return claimed.length;
    },
  };
}

export type VideoWorker = ReturnType<typeof createVideoWorker>;
