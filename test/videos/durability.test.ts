import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, simulatorKeys, startProviderSimulator } from '../../src/simulator/index.ts';
import { createVideoService, INTERRUPTED_MESSAGE, type VideoJob } from '../../src/videos/index.ts';
import { databaseTargets } from '../support/databases.ts';
import {
  eventually,
  FAST_WORKER,
  recorder,
  submissions,
  type VideoEnvironment,
  type VideoServer,
  videoEnvironment,
  waitForJob,
} from './support.ts';

/**
 * Durability of video jobs: a server stopped mid-job and a new one on the same database finish it
 * without a second submission; a job caught between "submitting" and its operation is never sent again
 * to the same provider; on PostgreSQL, two workers on one schema process a batch exactly once.
 */
const key = (provider: string) => simulatorKeys()[provider]?.[0] ?? '';

async function storeKeys(server: VideoServer, userId: string) {
  for (const provider of ['runway', 'luma']) {
    await server.keyhaven.vault.store({
      userId,
      provider,
      credentials: { apiKey: key(provider) },
      validate: false,
    });
  }
}

describe.each(databaseTargets)('durable video jobs on $name', ({ name }) => {
  let simulator: Simulator;
  let environment: VideoEnvironment;
  let second: VideoServer | undefined;
  const recorded = recorder();

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    environment = videoEnvironment({
      target: name,
      simulator,
      rateLimits: { 'google-veo': { perMinute: 1, perHour: 100 } },
    });
  });
  afterAll(async () => {
    await environment?.destroy();
    await simulator?.close();
  });

  it('finishes a job after a restart mid-job, with exactly one upstream submission', async () => {
    // The first server's worker starts the job and then waits long before its first status read.
    const first = await environment.start({ worker: { ...FAST_WORKER, initialPollDelayMs: 1_500 } });
    await storeKeys(first, 'ruth');
    const response = await first.app.inject({
      method: 'POST',
      url: '/v1/users/ruth/videos',
      headers: environment.admin,
      payload: { provider: 'runway', model: 'gen4.5', prompt: 'survives a restart' },
    });
    expect(response.statusCode).toBe(202);
    const id = response.json<VideoJob>().id;
    const running = await waitForJob(
      first.app,
      environment.admin,
      'ruth',
      id,
      (job) => job.attempts[0]?.status === 'running',
    );
    expect(running.status).toBe('running');
    await first.close();
    expect(submissions(simulator, 'runway')).toBe(1);
    second = await environment.start({ recorded });
    const done = await waitForJob(second.app, environment.admin, 'ruth', id);
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toHaveLength(1);
    expect(submissions(simulator, 'runway')).toBe(1);
    await eventually(() => recorded.events.some((event) => event.data.id === id));
    expect(recorded.events.filter((event) => event.data.id === id).map((event) => event.type)).toEqual([
      'video.succeeded',
    ]);
    // Two server starts: the embedded database alone takes a while to open on a busy machine.
  }, 120_000);

  it('never resubmits an attempt caught in "submitting": fails over, or fails the job', async () => {
    const server = second;
    if (!server) throw new Error('needs the restarted server');
    await storeKeys(server, 'sam');
    const db = server.keyhaven.database.db;
    const pinned = async (provider: string) => {
      const summary = await server.keyhaven.vault.get({ userId: 'sam', provider });
      if (!summary.credentialId || summary.version === null) throw new Error('no credential');
      return { credentialId: summary.credentialId, credentialVersion: summary.version };
    };
    const entry = async (provider: string, model: string, durationSeconds: number) => ({
      provider,
      model,
      durationSeconds,
      resolution: '720p',
      aspectRatio: '16:9',
      estimatedCost: null,
      ...(await pinned(provider)),
    });
    const runwayBefore = submissions(simulator, 'runway');
    const lumaBefore = submissions(simulator, 'luma');
    // What a crash right after writing "submitting" (before the provider answered) leaves behind.
    const stuck = async (id: string, plan: unknown[]) => {
      const now = new Date();
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('video_jobs')
          .values({
            user_id: 'sam',
            id,
            status: 'running',
            request: JSON.stringify({ prompt: 'caught mid-submission' }),
            plan: JSON.stringify(plan),
            next_poll_at: now,
            created_at: now,
            updated_at: now,
          })
          .execute();
        const first = plan[0] as {
          provider: string;
          model: string;
          credentialId: string;
          credentialVersion: number;
        };
        await trx
          .insertInto('video_attempts')
          .values({
            user_id: 'sam',
            job_id: id,
            attempt: 0,
            provider: first.provider,
            model: first.model,
            credential_id: first.credentialId,
            credential_version: first.credentialVersion,
            status: 'submitting',
            started_at: now,
          })
          .execute();
      });
    };
    const withFailover = 'vid_00000000000000000000000a';
    const alone = 'vid_00000000000000000000000b';
    await stuck(withFailover, [await entry('runway', 'gen4.5', 5), await entry('luma', 'ray-2', 5)]);
    await stuck(alone, [await entry('runway', 'gen4.5', 5)]);
    const failedOver = await waitForJob(server.app, environment.admin, 'sam', withFailover);
    expect(failedOver.status).toBe('succeeded');
    expect(failedOver.attempts.map((attempt) => [attempt.provider, attempt.status])).toEqual([
      ['runway', 'failed'],
      ['luma', 'succeeded'],
    ]);
    expect(failedOver.attempts[0]?.errorMessage).toBe(INTERRUPTED_MESSAGE);
    const failed = await waitForJob(server.app, environment.admin, 'sam', alone);
    expect(failed.status).toBe('failed');
    expect(failed.error).toEqual({ code: 'submission_interrupted', message: INTERRUPTED_MESSAGE });
    expect(failed.attempts).toHaveLength(1);
    expect(submissions(simulator, 'runway')).toBe(runwayBefore);
    expect(submissions(simulator, 'luma')).toBe(lumaBefore + 1);
  });

  it("takes over a crashed worker's job once its lease expires, not before", async () => {
    const server = second;
    if (!server) throw new Error('needs the restarted server');
    await storeKeys(server, 'cara');
    const summary = await server.keyhaven.vault.get({ userId: 'cara', provider: 'luma' });
    const plan = [
      {
        provider: 'luma',
        model: 'ray-2',
        durationSeconds: 5,
        resolution: '720p',
        aspectRatio: '16:9',
        estimatedCost: null,
        credentialId: summary.credentialId,
        credentialVersion: summary.version,
      },
    ];
    // Queued jobs leased by a worker that died: one lease already expired, one still live for a while.
    const now = new Date();
    const leasedUntil = new Date(now.getTime() + 1_500);
    const expired = 'vid_00000000000000000000000c';
    const live = 'vid_00000000000000000000000d';
    await server.keyhaven.database.db
      .insertInto('video_jobs')
      .values(
        [
          [expired, new Date(now.getTime() - 1_000)],
          [live, leasedUntil],
        ].map(([id, until]) => ({
          user_id: 'cara',
          id: String(id),
          status: 'queued' as const,
          request: JSON.stringify({ prompt: 'left by a crashed worker' }),
          plan: JSON.stringify(plan),
          next_poll_at: now,
          lease_owner: 'worker:crashed',
          lease_expires_at: until as Date,
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
    const takenOver = await waitForJob(server.app, environment.admin, 'cara', expired);
    expect(takenOver.status, JSON.stringify(takenOver)).toBe('succeeded');
    const held = await waitForJob(server.app, environment.admin, 'cara', live);
    expect(held.status, JSON.stringify(held)).toBe('succeeded');
    expect(new Date(held.attempts[0]?.startedAt ?? 0).getTime()).toBeGreaterThanOrEqual(
      leasedUntil.getTime(),
    );
    expect(new Date(takenOver.attempts[0]?.startedAt ?? 0).getTime()).toBeLessThan(leasedUntil.getTime());
  });

  it('a worker that lost its lease mid-submission never gets a second submission through', async () => {
    const server = second;
    if (!server) throw new Error('needs the restarted server');
    await storeKeys(server, 'lou');
    // Lou's own luma key, so that the slow start is Lou's and no other job's.
    const slowKey = 'luma-test-key-2';
    await server.keyhaven.vault.store({
      userId: 'lou',
      provider: 'luma',
      credentials: { apiKey: slowKey },
      validate: false,
    });
    const lumaBefore = submissions(simulator, 'luma');
    const runwayBefore = submissions(simulator, 'runway');
    simulator.addFault({ provider: 'luma', key: slowKey, latencyMs: 1_500, count: 1 });
    const response = await server.app.inject({
      method: 'POST',
      url: '/v1/users/lou/videos',
      headers: environment.admin,
      payload: { providers: ['luma', 'runway'], prompt: 'slow to start' },
    });
    const id = response.json<VideoJob>().id;
    await waitForJob(
      server.app,
      environment.admin,
      'lou',
      id,
      (job) => job.attempts[0]?.status === 'submitting',
    );
    // The server's worker is stuck in luma's start(); its lease runs out and another instance claims the job.
    const db = server.keyhaven.database.db;
    await db
      .updateTable('video_jobs')
      .set({ lease_expires_at: new Date(Date.now() - 1_000) })
      .where('user_id', '=', 'lou')
      .where('id', '=', id)
      .execute();
    const other = createVideoService({
      db,
      vault: server.keyhaven.vault,
      providers: server.keyhaven.providers,
      prices: server.keyhaven.prices,
      events: recorder().sink,
      usage: recorder().meter,
      worker: FAST_WORKER,
    });
    other.worker.start();
    try {
      const done = await waitForJob(server.app, environment.admin, 'lou', id);
      expect(done.status, JSON.stringify(done)).toBe('succeeded');
      expect(done.attempts.length, JSON.stringify(done)).toBe(2);
      expect(done.attempts.map((attempt) => [attempt.provider, attempt.status, attempt.errorCode])).toEqual([
        ['luma', 'failed', 'submission_interrupted'],
        ['runway', 'succeeded', null],
      ]);
      // Luma heard of the job once, and was told to drop the generation nobody will poll.
      await eventually(() =>
        simulator.requests.some(
          (request) =>
            request.provider === 'luma' &&
            request.method === 'DELETE' &&
            request.path.includes('/generations/'),
        ),
      );
      expect(submissions(simulator, 'luma')).toBe(lumaBefore + 1);
      expect(submissions(simulator, 'runway')).toBe(runwayBefore + 1);
    } finally {
      await other.worker.stop();
    }
  });

  it('fails a job that outlived the timeout without submitting it', async () => {
    const server = second;
    if (!server) throw new Error('needs the restarted server');
    await storeKeys(server, 'otto');
    const summary = await server.keyhaven.vault.get({ userId: 'otto', provider: 'luma' });
    const before = submissions(simulator, 'luma');
    const now = new Date();
    const id = 'vid_00000000000000000000000e';
    await server.keyhaven.database.db
      .insertInto('video_jobs')
      .values({
        user_id: 'otto',
        id,
        status: 'queued',
        request: JSON.stringify({ prompt: 'too late' }),
        plan: JSON.stringify([
          {
            provider: 'luma',
            model: 'ray-2',
            durationSeconds: 5,
            resolution: '720p',
            aspectRatio: '16:9',
            estimatedCost: null,
            credentialId: summary.credentialId,
            credentialVersion: summary.version,
          },
        ]),
        next_poll_at: now,
        created_at: new Date(now.getTime() - 3 * 3_600_000),
        updated_at: now,
      })
      .execute();
    const done = await waitForJob(server.app, environment.admin, 'otto', id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('timeout');
    expect(submissions(simulator, 'luma')).toBe(before);
  });

  it("waits for the provider's rate limit instead of failing or submitting", async () => {
    const server = second;
    if (!server) throw new Error('needs the restarted server');
    await server.keyhaven.vault.store({
      userId: 'rita',
      provider: 'google-veo',
      credentials: { apiKey: key('google-veo') },
      validate: false,
    });
    const before = submissions(simulator, 'google-veo');
    const response = await server.app.inject({
      method: 'POST',
      url: '/v1/users/rita/videos/batch',
      headers: environment.admin,
      payload: {
        requests: [
          { provider: 'google-veo', prompt: 'first' },
          { provider: 'google-veo', prompt: 'second' },
        ],
      },
    });
    expect(response.statusCode).toBe(202);
    const ids = response.json<{ jobs: VideoJob[] }>().jobs.map((job) => job.id);
    // One submission a minute: one job runs, the other waits queued, with no attempt and nothing sent.
    await eventually(async () => {
      const jobs = await Promise.all(
        ids.map(async (id) =>
          (
            await server.app.inject({ url: `/v1/users/rita/videos/${id}`, headers: environment.admin })
          ).json<VideoJob>(),
        ),
      );
      return jobs.some((job) => job.status === 'succeeded');
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waiting = await Promise.all(
      ids.map(async (id) =>
        (
          await server.app.inject({ url: `/v1/users/rita/videos/${id}`, headers: environment.admin })
        ).json<VideoJob>(),
      ),
    );
    expect(waiting.map((job) => job.status).sort()).toEqual(['queued', 'succeeded']);
    expect(waiting.find((job) => job.status === 'queued')?.attempts).toEqual([]);
    expect(submissions(simulator, 'google-veo')).toBe(before + 1);
    for (const job of waiting.filter((entry) => entry.status === 'queued')) {
      const canceled = await server.app.inject({
        method: 'DELETE',
        url: `/v1/users/rita/videos/${job.id}`,
        headers: environment.admin,
      });
      expect(canceled.json<VideoJob>().status).toBe('canceled');
    }
  });

  it.runIf(name === 'postgres')(
    'processes a batch exactly once with two workers on one schema',
    async () => {
      const a = second;
      if (!a) throw new Error('needs the restarted server');
      const recordedB = recorder();
      const b = await environment.start({ recorded: recordedB });
      await storeKeys(a, 'bea');
      const before = submissions(simulator, 'luma');
      const requests = Array.from({ length: 20 }, (_, index) => ({
        provider: 'luma',
        prompt: `clip ${index}`,
      }));
      const response = await b.app.inject({
        method: 'POST',
        url: '/v1/users/bea/videos/batch',
        headers: environment.admin,
        payload: { requests },
      });
      expect(response.statusCode).toBe(202);
      const ids = response.json<{ jobs: VideoJob[] }>().jobs.map((job) => job.id);
      const done = await Promise.all(
        ids.map((id) => waitForJob(a.app, environment.admin, 'bea', id, undefined, 20_000)),
      );
      expect(done.every((job) => job.status === 'succeeded' && job.attempts.length === 1)).toBe(true);
      expect(submissions(simulator, 'luma')).toBe(before + 20);
      // Every job finished (finalized) and no lease left behind.
      await eventually(async () => {
        const rows = await a.keyhaven.database.db
          .selectFrom('video_jobs')
          .select(['lease_owner', 'finalized_at'])
          .where('user_id', '=', 'bea')
          .execute();
        return rows.every((row) => row.lease_owner === null && row.finalized_at !== null);
      });
      const succeededEvents = [...recorded.events, ...recordedB.events].filter(
        (event) => event.type === 'video.succeeded' && ids.includes(String(event.data.id)),
      );
      expect(succeededEvents).toHaveLength(20);
      expect(new Set(succeededEvents.map((event) => event.data.id)).size).toBe(20);
      await b.close();
    },
    60_000,
  );
});
