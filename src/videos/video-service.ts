import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { KeyhavenError } from '../errors.ts';
import { newId } from '../ids.ts';
import { assertPublicUrl } from '../net/public-url.ts';
import type { PriceTable } from '../providers/prices/index.ts';
import type { ProviderAdapter, ProviderDefinition } from '../providers/spec.ts';
import type { Tables } from '../store/index.ts';
import type {
  StoredPlanEntry,
  StoredVideoRequest,
  VideoAttemptRow,
  VideoJobRow,
} from '../store/video-tables.ts';
import type { Budgets } from '../usage/budgets.ts';
import type { UsageMeter } from '../usage/meter.ts';
import type { Vault } from '../vault/index.ts';
import type { EventSink } from '../webhooks/events.ts';
import { type PlannedAttempt, type ProviderChoice, planVideoJob } from './plan.ts';
import { currentEntry, holderOf, jobView, type VideoJob, withoutKeyParameter } from './video-job.ts';
import {
  isInlineImage,
  type VideoRequestInput,
  videoBatchSchema,
  videoRequestSchema,
} from './video-request.ts';
import { createVideoWorker, type SubmissionLimiter, type VideoWorkerOptions } from './video-worker.ts';

/**
 * Video jobs: submission (plan, URL checks, credential pinning, one insert), reads, cancel, and the
 * worker that drives jobs to the end. Usable without HTTP; the routes are a thin layer over it.
 */
export interface VideoLogger {
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

export interface VideoMetrics {
  videoJob(provider: string, status: string): void;
  upstreamError?(provider: string, kind: string): void;
  videoJobsActive: { set(value: number): void };
}

export interface VideoServiceDependencies {
  db: Kysely<Tables>;
  vault: Pick<Vault, 'list' | 'get' | 'retain' | 'release' | 'reveal' | 'revealVersion' | 'markInvalid'>;
  providers: {
    get(id: string): ProviderDefinition | undefined;
    baseURL(id: string): string;
    adapter(
      id: string,
      credentials: Parameters<ProviderDefinition['createAdapter']>[0]['credentials'],
    ): ProviderAdapter;
  };
  prices: PriceTable;
  events: EventSink;
  usage: UsageMeter;
  /** Monthly budgets: jobs are reserved at submission (refused when a hard budget cannot hold them). */
  budgets?: Pick<Budgets, 'reserveVideoJobs' | 'settleVideoJob' | 'release'>;
  metrics?: VideoMetrics;
  clock?: () => Date;
  /** KEYHAVEN_ALLOW_PRIVATE_URLS: webhook and image URLs may point at loopback or private addresses. */
  allowPrivateUrls?: boolean;
  /** Host name resolution for the URL checks (tests replace it). */
  resolveHost?: (host: string) => Promise<string[]>;
  log?: VideoLogger;
  /** For output downloads (Gemini Files API). */
  fetch?: typeof fetch;
  worker?: VideoWorkerOptions;
  /** Per-user, per-provider submission limits (the providers' defaults, KEYHAVEN_RATE_LIMITS). */
  rateLimiter?: SubmissionLimiter;
}

const JOB_ID = /^vid_[0-9a-f]{24}$/;

const silentLog: VideoLogger = { warn: () => {}, error: () => {} };
const noMetrics: VideoMetrics = { videoJob: () => {}, videoJobsActive: { set: () => {} } };

interface PreparedJob {
  id: string;
  request: StoredVideoRequest;
  plan: StoredPlanEntry[];
  webhookUrl: string | null;
  metadata: Record<string, unknown> | null;
}

interface Connection {
  credentialId: string;
  version: number;
  status: string | null;
}

function withIndex(error: unknown, index: number): unknown {
  if (!(error instanceof KeyhavenError)) return error;
  return new KeyhavenError(error.code, `requests[${index}]: ${error.message}`, {
    details: { ...(error.details ?? {}), index },
    ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
  });
}

function choiceOf(request: VideoRequestInput): ProviderChoice {
  if (request.provider !== undefined) return { provider: request.provider };
  if (request.providers !== undefined) return { providers: request.providers };
  return { strategy: 'cheapest' };
}

const jobKey = (job: Pick<VideoJobRow, 'user_id' | 'id'>) => `${job.user_id}\u0000${job.id}`;

function parseInput<T>(
  schema: {
    safeParse(
      value: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  value: unknown,
): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  throw new KeyhavenError(
    'invalid_request',
    `invalid request: ${issues.map((issue) => `${issue.path || 'body'}: ${issue.message}`).join('; ')}`,
    { details: { issues } },
  );
}

/** planVideoJob, with a provider the body names but nobody registered as a refused request (not a 404). */
function planOrRefuse(options: Parameters<typeof planVideoJob>[0]): PlannedAttempt[] {
  try {
    return planVideoJob(options);
  } catch (error) {
    if (error instanceof KeyhavenError && error.code === 'unknown_provider') {
      throw new KeyhavenError('invalid_request', error.message, { details: { field: 'provider' } });
    }
    throw error;
  }
}

export function encodeCursor(row: Pick<VideoJobRow, 'created_at' | 'id'>): string {
  return Buffer.from(JSON.stringify([new Date(row.created_at).toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && typeof id === 'string' && JOB_ID.test(id)) {
      const date = new Date(createdAt);
      if (!Number.isNaN(date.getTime())) return { createdAt: date, id };
    }
  } catch {
    // falls through to the refusal
  }
  throw new KeyhavenError('invalid_request', 'cursor is not one this API returned');
}

export function createVideoService({
  db,
  vault,
  providers,
  prices,
  events,
  usage,
  budgets,
  metrics = noMetrics,
  clock = () => new Date(),
  allowPrivateUrls = false,
  resolveHost,
  log = silentLog,
  worker: workerOptions = {},
  rateLimiter,
  fetch: fetchImplementation = globalThis.fetch,
}: VideoServiceDependencies) {
  const urlOptions = { allowPrivate: allowPrivateUrls, ...(resolveHost ? { resolve: resolveHost } : {}) };

  async function connections(userId: string): Promise<Map<string, Connection>> {
    const summaries = await vault.list({ userId });
    return new Map(
      summaries.flatMap((summary) =>
        summary.connected && summary.credentialId !== null && summary.version !== null
          ? [
              [
                summary.provider,
                { credentialId: summary.credentialId, version: summary.version, status: summary.status },
              ],
            ]
          : [],
      ),
    );
  }

  /** Everything that can refuse a request, before anything is stored. */
  async function prepare(
    request: VideoRequestInput,
    connected: Map<string, Connection>,
  ): Promise<PreparedJob> {
    const planned: PlannedAttempt[] = planOrRefuse({
      request: {
        prompt: request.prompt,
        ...(request.model === undefined ? {} : { model: request.model }),
        ...(request.durationSeconds === undefined ? {} : { durationSeconds: request.durationSeconds }),
        ...(request.aspectRatio === undefined ? {} : { aspectRatio: request.aspectRatio }),
        ...(request.resolution === undefined ? {} : { resolution: request.resolution }),
        ...(request.image === undefined ? {} : { image: request.image }),
      },
      choice: choiceOf(request),
      providers: (id) => providers.get(id),
      // A credential the provider refused is not a candidate for the cheapest choice.
      connected: [...connected].filter(([, connection]) => connection.status !== 'invalid').map(([id]) => id),
      prices,
    });
    const plan = planned.map((attempt): StoredPlanEntry => {
      const connection = connected.get(attempt.provider);
      if (!connection) {
        throw new KeyhavenError(
          'credential_missing',
          `no ${attempt.provider} credential is stored for this user; connect one before submitting a ${attempt.provider} video job`,
          { details: { provider: attempt.provider } },
        );
      }
      return { ...attempt, credentialId: connection.credentialId, credentialVersion: connection.version };
    });
    if (request.image !== undefined) {
      if (request.image.startsWith('data:')) {
        if (!isInlineImage(request.image)) {
          throw new KeyhavenError(
            'invalid_request',
            'image: an inline image must be a data:image/(png|jpeg|webp|gif);base64 URL of at most 10 MB',
            { details: { field: 'image' } },
          );
        }
      } else await assertPublicUrl(request.image, 'image', urlOptions);
    }
    if (request.webhookUrl !== undefined) await assertPublicUrl(request.webhookUrl, 'webhookUrl', urlOptions);
    const stored: StoredVideoRequest = { prompt: request.prompt };
    for (const field of [
      'negativePrompt',
      'durationSeconds',
      'aspectRatio',
      'resolution',
      'seed',
      'image',
      'model',
    ] as const) {
      if (request[field] !== undefined) Object.assign(stored, { [field]: request[field] });
    }
    return {
      id: newId('vid'),
      request: stored,
      plan,
      webhookUrl: request.webhookUrl ?? null,
      metadata: request.metadata ?? null,
    };
  }

  /** Pins every credential a job may use, so a rotation while it runs cannot delete the version. */
  async function pin(userId: string, jobs: PreparedJob[]): Promise<void> {
    const pinned: { credentialId: string; holder: string }[] = [];
    try {
      for (const job of jobs) {
        for (const credentialId of new Set(job.plan.map((entry) => entry.credentialId))) {
          await vault.retain({ userId, credentialId, holder: holderOf(job.id) });
          pinned.push({ credentialId, holder: holderOf(job.id) });
        }
      }
    } catch (error) {
      await unpin(userId, pinned);
      if (error instanceof KeyhavenError && error.code === 'not_found') {
        // Rotated and purged between the read and the pin: the caller can simply submit again.
        throw new KeyhavenError(
          'conflict',
          'a credential changed while the job was being submitted; submit again',
        );
      }
      throw error;
    }
  }

  async function unpin(userId: string, pinned: { credentialId: string; holder: string }[]): Promise<void> {
    for (const reference of pinned) {
      await vault
        .release({ userId, ...reference })
        .catch((error: unknown) =>
          log.warn(
            { err: error, credentialId: reference.credentialId },
            'video: releasing a credential reference failed',
          ),
        );
    }
  }

  async function insert(userId: string, jobs: PreparedJob[]): Promise<VideoJobRow[]> {
    const now = clock();
    try {
      return await db.transaction().execute(async (trx) => {
        const rows: VideoJobRow[] = [];
        for (const job of jobs) {
          rows.push(
            await trx
              .insertInto('video_jobs')
              .values({
                user_id: userId,
                id: job.id,
                status: 'queued',
                request: JSON.stringify(job.request),
                plan: JSON.stringify(job.plan),
                webhook_url: job.webhookUrl,
                metadata: job.metadata === null ? null : JSON.stringify(job.metadata),
                next_poll_at: now,
                created_at: now,
                updated_at: now,
              })
              .returningAll()
              .executeTakeFirstOrThrow(),
          );
        }
        return rows;
      });
    } catch (error) {
      await unpin(
        userId,
        jobs.flatMap((job) =>
          [...new Set(job.plan.map((entry) => entry.credentialId))].map((credentialId) => ({
            credentialId,
            holder: holderOf(job.id),
          })),
        ),
      );
      throw error;
    }
  }

  async function submitMany(
    userId: string,
    requests: VideoRequestInput[],
    batch: boolean,
  ): Promise<VideoJob[]> {
    const connected = await connections(userId);
    const prepared: PreparedJob[] = [];
    for (const [index, request] of requests.entries()) {
      try {
        prepared.push(await prepare(request, connected));
      } catch (error) {
        throw batch ? withIndex(error, index) : error;
      }
    }
    // Refused here (402) when a hard budget cannot hold every job; nothing is stored then.
    const reserved = await budgets?.reserveVideoJobs(
      userId,
      prepared.map((job) => ({ id: job.id, attempts: job.plan })),
    );
    let rows: VideoJobRow[];
    try {
      await pin(userId, prepared);
      rows = await insert(userId, prepared);
    } catch (error) {
      if (reserved && budgets) {
        await budgets
          .release(reserved)
          .catch((failure: unknown) =>
            log.warn(
              { err: failure },
              'video: releasing budget reservations failed; they expire on their own',
            ),
          );
      }
      throw error;
    }
    for (const row of rows) metrics.videoJob(currentEntry(row).provider, 'queued');
    worker.wake();
    return rows.map((row) => jobView(row, []));
  }

  /** Creates one job (202 in HTTP terms: it runs in the background). */
  async function submit(userId: string, input: unknown): Promise<VideoJob> {
    const request = parseInput<VideoRequestInput>(videoRequestSchema, input);
    const [job] = await submitMany(userId, [request], false);
    if (!job) throw new KeyhavenError('internal', 'the job was not created');
    return job;
  }

  /**
   * Creates up to 50 jobs, all or none: every request is checked first, and the first refusal rejects
   * the batch with its index (`details.index`) and nothing is stored.
   */
  async function submitBatch(userId: string, input: unknown): Promise<VideoJob[]> {
    const batch = parseInput<{ requests: VideoRequestInput[] }>(videoBatchSchema, input);
    return submitMany(userId, batch.requests, true);
  }

  async function attemptsOf(userId: string, jobIds: string[]): Promise<Map<string, VideoAttemptRow[]>> {
    const byJob = new Map<string, VideoAttemptRow[]>();
    if (jobIds.length === 0) return byJob;
    const rows = await db
      .selectFrom('video_attempts')
      .selectAll()
      .where('user_id', '=', userId)
      .where('job_id', 'in', jobIds)
      .orderBy('attempt')
      .execute();
    for (const row of rows) byJob.set(row.job_id, [...(byJob.get(row.job_id) ?? []), row]);
    return byJob;
  }

  /** The attempts of jobs that may belong to different users, by `jobKey`. */
  async function attemptsOfJobs(
    jobs: readonly Pick<VideoJobRow, 'user_id' | 'id'>[],
  ): Promise<Map<string, VideoAttemptRow[]>> {
    const byJob = new Map<string, VideoAttemptRow[]>();
    if (jobs.length === 0) return byJob;
    const rows = await db
      .selectFrom('video_attempts')
      .selectAll()
      .where('user_id', 'in', [...new Set(jobs.map((job) => job.user_id))])
      .where(
        'job_id',
        'in',
        jobs.map((job) => job.id),
      )
      .orderBy('attempt')
      .execute();
    for (const attempt of rows) {
      const key = jobKey({ user_id: attempt.user_id, id: attempt.job_id });
      byJob.set(key, [...(byJob.get(key) ?? []), attempt]);
    }
    return byJob;
  }

  async function row(userId: string, jobId: string): Promise<VideoJobRow> {
    const found = JOB_ID.test(jobId)
      ? await db
          .selectFrom('video_jobs')
          .selectAll()
          .where('user_id', '=', userId)
          .where('id', '=', jobId)
          .executeTakeFirst()
      : undefined;
    if (!found) throw new KeyhavenError('not_found', 'no such video job');
    return found;
  }

  async function get(userId: string, jobId: string): Promise<VideoJob> {
    const found = await row(userId, jobId);
    return jobView(found, (await attemptsOf(userId, [found.id])).get(found.id) ?? []);
  }

  /** Newest first; `nextCursor` continues the listing, null at the end. No user: every user's (admin). */
  async function list(
    userId: string | undefined,
    {
      limit = 20,
      cursor,
      status,
    }: { limit?: number; cursor?: string | undefined; status?: VideoJob['status'] | undefined } = {},
  ): Promise<{ jobs: VideoJob[]; nextCursor: string | null }> {
    let query = db
      .selectFrom('video_jobs')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1);
    if (userId !== undefined) query = query.where('user_id', '=', userId);
    if (status !== undefined) query = query.where('status', '=', status);
    if (cursor !== undefined) {
      const after = decodeCursor(cursor);
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
        ]),
      );
    }
    const rows = await query.execute();
    const page = rows.slice(0, limit);
    const attempts = await attemptsOfJobs(page);
    const last = page.at(-1);
    return {
      jobs: page.map((entry) => jobView(entry, attempts.get(jobKey(entry)) ?? [])),
      nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
    };
  }

  const worker = createVideoWorker({
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
    ...workerOptions,
  });

  /**
   * Cancels a queued or running job: the job becomes `canceled` at once, then the provider is asked to
   * stop (when it can). Canceling a canceled job returns it; a finished one is a conflict.
   */
  async function cancel(userId: string, jobId: string): Promise<VideoJob> {
    if (!JOB_ID.test(jobId)) throw new KeyhavenError('not_found', 'no such video job');
    const now = clock();
    const owner = `cancel:${randomBytes(6).toString('hex')}`;
    const canceled = await db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('video_jobs')
        .selectAll()
        .where('user_id', '=', userId)
        .where('id', '=', jobId)
        .forUpdate()
        .executeTakeFirst();
      if (!current) throw new KeyhavenError('not_found', 'no such video job');
      if (current.status === 'canceled') return undefined;
      if (current.status === 'succeeded' || current.status === 'failed') {
        throw new KeyhavenError('conflict', `the job has already ${current.status}`, {
          details: { status: current.status },
        });
      }
      await trx
        .updateTable('video_attempts')
        .set({
          status: 'canceled',
          ended_at: now,
          error_code: 'canceled',
          error_message: 'canceled by request',
        })
        .where('user_id', '=', userId)
        .where('job_id', '=', jobId)
        .where('status', 'in', ['submitting', 'running'])
        .execute();
      // The lease keeps workers away while this request finishes the job; it expires if we crash.
      return trx
        .updateTable('video_jobs')
        .set({
          status: 'canceled',
          completed_at: now,
          updated_at: now,
          next_poll_at: now,
          lease_owner: owner,
          lease_expires_at: new Date(now.getTime() + worker.leaseMs),
        })
        .where('user_id', '=', userId)
        .where('id', '=', jobId)
        .returningAll()
        .executeTakeFirstOrThrow();
    });
    if (canceled) {
      if (canceled.operation !== null) await worker.cancelUpstream(canceled, canceled.operation);
      await worker
        .finalize(canceled, owner)
        .catch((error: unknown) =>
          log.error({ err: error, jobId }, 'video: finishing a canceled job failed; a worker retries it'),
        );
    }
    return get(userId, jobId);
  }

  /**
   * An output Keyhaven serves: bytes the provider returned inline (Vertex AI), or a Gemini Files API
   * download fetched with the user's current key. The key only ever goes to the provider's own origin.
   */
  async function readOutput(
    userId: string,
    jobId: string,
    index: string,
  ): Promise<{ mediaType: string; body: Buffer | ReadableStream<Uint8Array> }> {
    const found = await row(userId, jobId);
    const position = /^[0-9]{1,3}$/.test(index) ? Number(index) : -1;
    const output = found.outputs?.[position];
    const notStored = () =>
      new KeyhavenError('not_found', 'no such output served by Keyhaven (see the output’s url)');
    if (!output) throw notStored();
    const inline = /^data:([^;,]+);base64,(.*)$/s.exec(output.url);
    if (inline?.[1] && inline[2] !== undefined) {
      return { mediaType: inline[1], body: Buffer.from(inline[2], 'base64') };
    }
    const attempts = (await attemptsOf(userId, [found.id])).get(found.id) ?? [];
    const provider = attempts.at(-1)?.provider ?? currentEntry(found).provider;
    if (provider !== 'google-veo' || !/^https?:/i.test(output.url)) throw notStored();
    const url = new URL(withoutKeyParameter(output.url));
    if (url.origin !== new URL(providers.baseURL(provider)).origin) throw notStored();
    const revealed = await vault
      .reveal({ userId, provider, purpose: 'video.download' })
      .catch((error: unknown) => {
        if (error instanceof KeyhavenError && error.code === 'not_found') {
          throw new KeyhavenError(
            'credential_missing',
            `downloading this output needs your ${provider} credential`,
            {
              details: { provider },
            },
          );
        }
        throw error;
      });
    const apiKey = revealed.credentials.apiKey?.reveal();
    if (!apiKey) throw notStored();
    let response: Response;
    try {
      response = await fetchImplementation(url, {
        headers: { 'x-goog-api-key': apiKey },
        redirect: 'follow',
        signal: AbortSignal.timeout(60_000),
      });
    } catch {
      throw new KeyhavenError(
        'provider_unavailable',
        `${provider} could not be reached to download the output`,
      );
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new KeyhavenError(
        response.status === 404 || response.status === 403 ? 'not_found' : 'provider_unavailable',
        `${provider} did not hand out the output (status ${response.status}); it may have expired`,
      );
    }
    return {
      mediaType: response.headers.get('content-type') ?? output.mediaType ?? 'application/octet-stream',
      body: response.body,
    };
  }

  /**
   * Removes every job of a user (user deletion): active ones are canceled first, so the provider is told
   * to stop while the pinned credential still exists, then the rows go. Returns how many were removed.
   */
  async function removeUser(userId: string): Promise<number> {
    const active = await db
      .selectFrom('video_jobs')
      .select('id')
      .where('user_id', '=', userId)
      .where('status', 'in', ['queued', 'running'])
      .execute();
    for (const job of active) {
      await cancel(userId, job.id).catch((error: unknown) => {
        // Finished meanwhile (a conflict) or already gone: either way there is nothing left to stop.
        if (!(error instanceof KeyhavenError)) throw error;
      });
    }
    const removed = await db.deleteFrom('video_jobs').where('user_id', '=', userId).returning('id').execute();
    return removed.length;
  }

  return {
    submit,
    submitBatch,
    get,
    list,
    cancel,
    readOutput,
    removeUser,
    worker,
  };
}

export type VideoService = ReturnType<typeof createVideoService>;
