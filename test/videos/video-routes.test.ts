import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestServiceAccount,
  type Simulator,
  simulatorKeys,
  startProviderSimulator,
} from '../../src/simulator/index.ts';
import { createVideoService, type VideoJob } from '../../src/videos/index.ts';
import { databaseTargets } from '../support/databases.ts';
import {
  errorOf,
  eventually,
  type Recorded,
  recorder,
  submissions,
  type VideoEnvironment,
  type VideoServer,
  videoEnvironment,
  waitForJob,
} from './support.ts';

/**
 * Video jobs over HTTP, in process, against the provider simulator: each video provider end to end,
 * refusals, failover, the cheapest strategy, cancel, batch, ownership and URL checks.
 */
const key = (provider: string) => {
  const found = simulatorKeys()[provider]?.[0];
  if (!found) throw new Error(`no simulator key for ${provider}`);
  return found;
};

describe.each(databaseTargets)('video jobs on $name', ({ name }) => {
  let simulator: Simulator;
  let environment: VideoEnvironment;
  let server: VideoServer;
  let recorded: Recorded;
  let alice: { authorization: string };
  let bob: { authorization: string };
  const admin = () => environment.admin;

  async function mint(userId: string) {
    const response = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/tokens`,
      headers: admin(),
      payload: { ttlSeconds: 3600 },
    });
    expect(response.statusCode).toBe(201);
    return { authorization: `Bearer ${response.json<{ token: string }>().token}` };
  }

  async function store(userId: string, provider: string, credentials: Record<string, string>) {
    return server.keyhaven.vault.store({ userId, provider, credentials, validate: false });
  }

  async function submit(userId: string, payload: Record<string, unknown>, headers = admin()) {
    return server.app.inject({ method: 'POST', url: `/v1/users/${userId}/videos`, headers, payload });
  }

  async function submitted(userId: string, payload: Record<string, unknown>, headers = admin()) {
    const response = await submit(userId, payload, headers);
    expect(response.statusCode, response.body).toBe(202);
    return response.json<VideoJob>();
  }

  const finished = (userId: string, id: string, headers = admin()) =>
    waitForJob(server.app, headers, userId, id);

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    environment = videoEnvironment({ target: name, simulator });
    recorded = recorder();
    server = await environment.start({ recorded });
    await store('alice', 'runway', { apiKey: key('runway') });
    await store('alice', 'luma', { apiKey: key('luma') });
    await store('alice', 'google-veo', { apiKey: key('google-veo') });
    alice = await mint('alice');
    bob = await mint('bob');
  });
  afterEach(() => simulator.clearFaults());
  afterAll(async () => {
    await environment?.destroy();
    await simulator?.close();
  });

  it('runs a Runway job to success: 202 queued, then outputs, one attempt, event, usage', async () => {
    const before = submissions(simulator, 'runway');
    const job = await submitted(
      'alice',
      { provider: 'runway', model: 'gen4.5', prompt: 'a lighthouse at dusk', metadata: { scene: 7 } },
      alice,
    );
    expect(job.id).toMatch(/^vid_[0-9a-f]{24}$/);
    expect(job).toMatchObject({ status: 'queued', provider: 'runway', model: 'gen4.5', userId: 'alice' });
    expect(job.metadata).toEqual({ scene: 7 });
    const done = await finished('alice', job.id, alice);
    expect(done.status).toBe('succeeded');
    expect(done.outputs.length).toBeGreaterThan(0);
    expect(done.outputs[0]?.access).toBe('public');
    expect(done.attempts).toEqual([
      expect.objectContaining({
        provider: 'runway',
        status: 'succeeded',
        credentialVersion: 1,
        errorCode: null,
      }),
    ]);
    expect(done.completedAt).not.toBeNull();
    expect(submissions(simulator, 'runway')).toBe(before + 1);
    await eventually(() => recorded.events.some((event) => event.data.id === job.id));
    const event = recorded.events.find((entry) => entry.data.id === job.id);
    expect(event).toMatchObject({ type: 'video.succeeded', userId: 'alice' });
    expect(event?.data.status).toBe('succeeded');
    // Usage is recorded as the last step of finishing the job, just after the event.
    await eventually(() => recorded.usage.some((entry) => entry.requestId === job.id));
    const usage = recorded.usage.find((entry) => entry.requestId === job.id);
    expect(usage).toMatchObject({
      route: 'video',
      provider: 'runway',
      userId: 'alice',
      credentialVersion: 1,
    });
    expect(usage?.videoSeconds).toBeGreaterThan(0);
    const metrics = (await server.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/keyhaven_video_jobs_total\{provider="runway",status="succeeded"\} [1-9]/);
    expect(metrics).toMatch(/keyhaven_video_jobs_total\{provider="runway",status="queued"\} [1-9]/);
    expect(metrics).toContain('keyhaven_video_jobs_active');
    // No credential, credential id or provider operation in what a caller sees.
    const text = JSON.stringify(done) + JSON.stringify(event);
    expect(text).not.toContain(key('runway'));
    expect(text).not.toMatch(/cred_[0-9a-f]{24}/);
    expect(text).not.toContain('runway:');
  });

  it('records the model a provider chose when none was named, and re-estimates its cost', async () => {
    const job = await submitted('alice', { provider: 'runway', prompt: 'text only', durationSeconds: 5 });
    const done = await finished('alice', job.id);
    expect(done.status).toBe('succeeded');
    expect(done.model).toBe('gen4.5');
    expect(done.attempts[0]?.model).toBe('gen4.5');
    // Planned on gen4_turbo's price; gen4.5 has none in the table, so the estimate becomes unknown.
    expect(job.estimatedCost).not.toBeNull();
    expect(done.estimatedCost).toBeNull();
  });

  it('runs Luma and Veo jobs; Veo outputs never carry a key', async () => {
    const luma = await submitted('alice', { provider: 'luma', prompt: 'waves on a beach' });
    const veo = await submitted('alice', { provider: 'google-veo', prompt: 'a paper boat' });
    const [lumaDone, veoDone] = await Promise.all([finished('alice', luma.id), finished('alice', veo.id)]);
    expect(lumaDone.status).toBe('succeeded');
    expect(lumaDone.outputs[0]?.url).toMatch(/^http/);
    expect(veoDone.status).toBe('succeeded');
    // The Gemini file only opens with the user's key: Keyhaven serves it, the application never sees the key.
    const output = veoDone.outputs[0];
    expect(output).toMatchObject({ access: 'keyhaven', url: `/v1/users/alice/videos/${veo.id}/outputs/0` });
    expect(JSON.stringify(veoDone)).not.toContain(key('google-veo'));
    const download = await server.app.inject({ url: output?.url ?? '', headers: alice });
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-type']).toBe('video/mp4');
    expect(download.rawPayload.subarray(4, 8).toString()).toBe('ftyp');
    expect(download.body).not.toContain(key('google-veo'));
    const fetched = simulator.requests.filter(
      (request) => request.provider === 'google-veo' && request.path.includes(':download'),
    );
    expect(fetched.at(-1)?.headers['x-goog-api-key']).toBe(key('google-veo'));
    expect(fetched.at(-1)?.path).not.toContain(key('google-veo'));
  });

  it('keeps Vertex inline videos in Keyhaven and serves them to the owner only', async () => {
    const account = createTestServiceAccount(simulator);
    await store('vera', 'google-veo', { serviceAccount: account.json });
    const job = await submitted('vera', { provider: 'google-veo', prompt: 'a red kite' });
    const done = await finished('vera', job.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const output = done.outputs[0];
    expect(output).toMatchObject({ access: 'keyhaven', mediaType: 'video/mp4' });
    expect(output?.url).toBe(`/v1/users/vera/videos/${job.id}/outputs/0`);
    expect(JSON.stringify(done)).not.toContain('base64');
    const download = await server.app.inject({ url: output?.url ?? '', headers: admin() });
    expect(download.statusCode).toBe(200);
    expect(download.headers['content-type']).toBe('video/mp4');
    expect(download.rawPayload.subarray(4, 8).toString()).toBe('ftyp');
    const other = await server.app.inject({ url: output?.url ?? '', headers: bob });
    expect(other.statusCode).toBe(404);
    const missing = await server.app.inject({
      url: `/v1/users/vera/videos/${job.id}/outputs/5`,
      headers: admin(),
    });
    expect(missing.statusCode).toBe(404);
  });

  it('refuses what providers cannot do: retired video, values outside the limits, no credential', async () => {
    const listed = async () =>
      (await server.app.inject({ url: '/v1/users/alice/videos?limit=100', headers: admin() })).json<{
        jobs: unknown[];
      }>().jobs.length;
    const count = await listed();
    for (const [provider, date] of [
      ['openai', '2026-09-24'],
      ['stability', '2025-07-24'],
    ] as const) {
      const response = await submit('alice', { provider, prompt: 'x' });
      expect(response.statusCode).toBe(422);
      expect(errorOf(response).code).toBe('capability_retired');
      expect(errorOf(response).message).toContain(date);
    }
    const tooLong = await submit('alice', {
      provider: 'runway',
      model: 'gen4.5',
      prompt: 'x',
      durationSeconds: 99,
    });
    expect(tooLong.statusCode).toBe(422);
    expect(errorOf(tooLong)).toMatchObject({
      code: 'unsupported_request',
      details: { provider: 'runway', field: 'durationSeconds' },
    });
    expect((errorOf(tooLong).details?.allowed as unknown[] | undefined)?.length).toBeGreaterThan(0);
    const missing = await submit('bob', { provider: 'luma', prompt: 'x' }, bob);
    expect(missing.statusCode).toBe(409);
    expect(errorOf(missing)).toMatchObject({ code: 'credential_missing', details: { provider: 'luma' } });
    expect(errorOf(missing).message).toContain('luma');
    const failover = await submit('alice', { providers: ['runway', 'mistral'], prompt: 'x' });
    expect(failover.statusCode).toBe(422);
    const both = await submit('alice', { provider: 'runway', strategy: 'cheapest', prompt: 'x' });
    expect(both.statusCode).toBe(400);
    const unknown = await submit('alice', { provider: 'runway', prompt: 'x', colour: 'red' });
    expect(unknown.statusCode).toBe(400);
    const nobody = await submit('alice', { provider: 'sora-by-mail', prompt: 'x' });
    expect(nobody.statusCode).toBe(400);
    expect(errorOf(nobody).details?.field).toBe('provider');
    expect(await listed()).toBe(count);
  });

  it('fails over to the next provider when the first cannot start, recording each error', async () => {
    const runwayBefore = submissions(simulator, 'runway');
    const lumaBefore = submissions(simulator, 'luma');
    simulator.addFault({ provider: 'runway', status: 503, count: 1 });
    const job = await submitted('alice', {
      providers: ['runway', 'luma'],
      model: undefined,
      prompt: 'a fox',
    });
    expect(job.providers).toEqual(['runway', 'luma']);
    const done = await finished('alice', job.id);
    expect(done.status).toBe('succeeded');
    expect(done.provider).toBe('luma');
    expect(done.attempts.map((attempt) => [attempt.provider, attempt.status])).toEqual([
      ['runway', 'failed'],
      ['luma', 'succeeded'],
    ]);
    expect(done.attempts[0]?.errorCode).toBe('overloaded');
    expect(done.attempts[0]?.errorMessage).toMatch(/runway/);
    expect(submissions(simulator, 'runway')).toBe(runwayBefore + 1);
    expect(submissions(simulator, 'luma')).toBe(lumaBefore + 1);
  });

  it('fails over when the provider fails the job with a retryable error', async () => {
    simulator.addFault({ provider: 'runway', jobFailure: true, count: 1 });
    const job = await submitted('alice', { providers: ['runway', 'luma'], prompt: 'a fox' });
    const done = await finished('alice', job.id);
    expect(done.attempts.map((attempt) => [attempt.provider, attempt.status])).toEqual([
      ['runway', 'failed'],
      ['luma', 'succeeded'],
    ]);
    expect(done.status).toBe('succeeded');
    // Runway picked its text-to-video model (no model was named): the attempt and the plan say so.
    expect(done.attempts[0]?.model).toBe('gen4.5');
  });

  it('fails a job the provider refuses for good, and reports it', async () => {
    const job = await submitted('alice', { provider: 'luma', prompt: 'simulate:fail a storm' });
    const done = await finished('alice', job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBeTruthy();
    expect(done.attempts).toHaveLength(1);
    await eventually(() => recorded.events.some((event) => event.data.id === job.id));
    expect(recorded.events.find((event) => event.data.id === job.id)?.type).toBe('video.failed');
    expect(recorded.usage.some((entry) => entry.requestId === job.id)).toBe(false);
  });

  it('marks a refused credential invalid and emits credential.invalid', async () => {
    await store('carol', 'runway', { apiKey: 'key_test_not_accepted_by_runway' });
    const job = await submitted('carol', { provider: 'runway', model: 'gen4.5', prompt: 'x' });
    const done = await finished('carol', job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('authentication');
    const summary = await server.keyhaven.vault.get({ userId: 'carol', provider: 'runway' });
    expect(summary.status).toBe('invalid');
    await eventually(() =>
      recorded.events.some((event) => event.type === 'credential.invalid' && event.userId === 'carol'),
    );
    expect(JSON.stringify(recorded.events)).not.toContain('key_test_not_accepted_by_runway');
  });

  it('chooses the cheapest connected provider able to do the request', async () => {
    const job = await submitted('alice', { strategy: 'cheapest', prompt: 'a meadow', resolution: '720p' });
    expect(job.providers.length).toBeGreaterThan(1);
    expect(job.providers.every((provider) => ['runway', 'luma', 'google-veo'].includes(provider))).toBe(true);
    // Each single-provider estimate: the chosen one is the lowest priced.
    const estimates = new Map<string, number | null>();
    for (const provider of job.providers) {
      const service = createVideoService({
        db: server.keyhaven.database.db,
        vault: server.keyhaven.vault,
        providers: server.keyhaven.providers,
        prices: server.keyhaven.prices,
        events: { emit: async () => {} },
        usage: { record: () => {}, flush: async () => {} },
        worker: { enabled: false },
      });
      const single = await service.submit('alice', { provider, prompt: 'a meadow', resolution: '720p' });
      estimates.set(provider, single.estimatedCost);
      await service.cancel('alice', single.id);
    }
    const priced = [...estimates.values()].filter((cost): cost is number => cost !== null);
    expect(job.estimatedCost).toBe(Math.min(...priced));
    expect(job.provider).toBe(job.providers[0]);
    const done = await finished('alice', job.id);
    expect(done.status).toBe('succeeded');
  });

  it('cancels a running job: canceled at once, the provider told to stop, nothing more happens', async () => {
    simulator.addFault({ provider: 'luma', latencyMs: 150, count: 20 });
    const job = await submitted('alice', { provider: 'luma', prompt: 'a slow sunrise' }, alice);
    await waitForJob(server.app, alice, 'alice', job.id, (seen) => seen.attempts[0]?.status === 'running');
    const response = await server.app.inject({
      method: 'DELETE',
      url: `/v1/users/alice/videos/${job.id}`,
      headers: alice,
    });
    expect(response.statusCode).toBe(200);
    const canceled = response.json<VideoJob>();
    expect(canceled.status).toBe('canceled');
    expect(canceled.attempts[0]?.status).toBe('canceled');
    expect(
      simulator.requests.some(
        (request) =>
          request.provider === 'luma' &&
          request.method === 'DELETE' &&
          request.path.includes('/generations/'),
      ),
    ).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const later = await server.app.inject({ url: `/v1/users/alice/videos/${job.id}`, headers: alice });
    expect(later.json<VideoJob>().status).toBe('canceled');
    expect(recorded.events.some((event) => event.data.id === job.id)).toBe(false);
    const again = await server.app.inject({
      method: 'DELETE',
      url: `/v1/users/alice/videos/${job.id}`,
      headers: alice,
    });
    expect(again.statusCode).toBe(200);
    simulator.clearFaults('luma');
    const succeeded = await submitted('alice', { provider: 'luma', prompt: 'quick' });
    await finished('alice', succeeded.id);
    const conflict = await server.app.inject({
      method: 'DELETE',
      url: `/v1/users/alice/videos/${succeeded.id}`,
      headers: alice,
    });
    expect(conflict.statusCode).toBe(409);
    expect(errorOf(conflict).code).toBe('conflict');
  });

  it('takes a batch of up to 50, all or none, naming the refused item', async () => {
    const batch = (requests: unknown[]) =>
      server.app.inject({
        method: 'POST',
        url: '/v1/users/alice/videos/batch',
        headers: alice,
        payload: { requests },
      });
    const item = { provider: 'luma', prompt: 'a batch item' };
    const tooMany = await batch(Array.from({ length: 51 }, () => item));
    expect(tooMany.statusCode).toBe(400);
    expect(errorOf(tooMany).code).toBe('invalid_request');
    const before = (
      await server.app.inject({ url: '/v1/users/alice/videos?limit=100', headers: alice })
    ).json<{
      jobs: VideoJob[];
    }>().jobs.length;
    const refused = await batch([item, item, { provider: 'openai', prompt: 'x' }, item]);
    expect(refused.statusCode).toBe(422);
    expect(errorOf(refused)).toMatchObject({ code: 'capability_retired', details: { index: 2 } });
    expect(errorOf(refused).message).toMatch(/^requests\[2\]/);
    const after = (
      await server.app.inject({ url: '/v1/users/alice/videos?limit=100', headers: alice })
    ).json<{
      jobs: VideoJob[];
    }>().jobs.length;
    expect(after).toBe(before);
    const accepted = await batch([
      item,
      { ...item, prompt: 'second' },
      { provider: 'runway', model: 'gen4.5', prompt: 'third' },
    ]);
    expect(accepted.statusCode).toBe(202);
    const jobs = accepted.json<{ jobs: VideoJob[] }>().jobs;
    expect(jobs).toHaveLength(3);
    expect(new Set(jobs.map((job) => job.id)).size).toBe(3);
    const done = await Promise.all(jobs.map((job) => finished('alice', job.id)));
    expect(done.map((job) => job.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  it("hides another user's jobs: 404 on get, list and cancel, and the job is untouched", async () => {
    simulator.addFault({ provider: 'luma', latencyMs: 100, count: 10 });
    const job = await submitted('alice', { provider: 'luma', prompt: 'private' }, alice);
    for (const [method, url] of [
      ['GET', `/v1/users/alice/videos/${job.id}`],
      ['GET', '/v1/users/alice/videos'],
      ['DELETE', `/v1/users/alice/videos/${job.id}`],
      ['GET', `/v1/users/alice/videos/${job.id}/outputs/0`],
    ] as const) {
      const response = await server.app.inject({ method, url, headers: bob });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(errorOf(response).code).toBe('not_found');
    }
    // Bob naming Alice's job under his own user finds nothing either.
    const own = await server.app.inject({ url: `/v1/users/bob/videos/${job.id}`, headers: bob });
    expect(own.statusCode).toBe(404);
    const cancelOwn = await server.app.inject({
      method: 'DELETE',
      url: `/v1/users/bob/videos/${job.id}`,
      headers: bob,
    });
    expect(cancelOwn.statusCode).toBe(404);
    const bobList = await server.app.inject({ url: '/v1/users/bob/videos', headers: bob });
    expect(bobList.json<{ jobs: VideoJob[] }>().jobs).toEqual([]);
    const done = await finished('alice', job.id, alice);
    expect(done.status).toBe('succeeded');
  });

  it('lists newest first with a cursor', async () => {
    const first = await server.app.inject({ url: '/v1/users/alice/videos?limit=2', headers: alice });
    const page = first.json<{ jobs: VideoJob[]; nextCursor: string | null }>();
    expect(page.jobs).toHaveLength(2);
    expect(page.nextCursor).not.toBeNull();
    const second = await server.app.inject({
      url: `/v1/users/alice/videos?limit=2&cursor=${page.nextCursor}`,
      headers: alice,
    });
    const next = second.json<{ jobs: VideoJob[] }>();
    const all = [...page.jobs, ...next.jobs];
    expect(new Set(all.map((job) => job.id)).size).toBe(all.length);
    const created = all.map((job) => job.createdAt);
    expect(created).toEqual([...created].sort().reverse());
    const bad = await server.app.inject({ url: '/v1/users/alice/videos?cursor=nonsense', headers: alice });
    expect(bad.statusCode).toBe(400);
    const succeeded = await server.app.inject({
      url: '/v1/users/alice/videos?status=succeeded&limit=100',
      headers: alice,
    });
    expect(succeeded.json<{ jobs: VideoJob[] }>().jobs.every((job) => job.status === 'succeeded')).toBe(true);
  });

  it('refuses private webhook and image URLs unless allowed', async () => {
    const webhook = await submit('alice', {
      provider: 'luma',
      prompt: 'x',
      webhookUrl: 'http://127.0.0.1:9/hook',
    });
    expect(webhook.statusCode).toBe(400);
    expect(errorOf(webhook)).toMatchObject({ code: 'invalid_request', details: { field: 'webhookUrl' } });
    const image = await submit('alice', {
      provider: 'luma',
      prompt: 'x',
      image: 'https://10.1.2.3/frame.png',
    });
    expect(image.statusCode).toBe(400);
    expect(errorOf(image).details?.field).toBe('image');
    const notImage = await submit('alice', {
      provider: 'luma',
      prompt: 'x',
      image: 'data:text/html;base64,PGgxPg==',
    });
    expect(notImage.statusCode).toBe(400);
    const withKey = await submit('alice', {
      provider: 'luma',
      prompt: 'x',
      webhookUrl: 'https://user:pass@93.184.215.14/hook',
    });
    expect(withKey.statusCode).toBe(400);
    // A public address is fine, and the job's events go there too.
    const accepted = await submitted('alice', {
      provider: 'luma',
      prompt: 'x',
      webhookUrl: 'https://93.184.215.14/hook',
    });
    expect(accepted.webhookUrl).toBe('https://93.184.215.14/hook');
    await finished('alice', accepted.id);
    await eventually(() => recorded.events.some((event) => event.data.id === accepted.id));
    expect(recorded.events.find((event) => event.data.id === accepted.id)?.webhookUrl).toBe(
      'https://93.184.215.14/hook',
    );
    // With KEYHAVEN_ALLOW_PRIVATE_URLS the same private URL is accepted (the service, without HTTP).
    const allowing = createVideoService({
      db: server.keyhaven.database.db,
      vault: server.keyhaven.vault,
      providers: server.keyhaven.providers,
      prices: server.keyhaven.prices,
      events: { emit: async () => {} },
      usage: { record: () => {}, flush: async () => {} },
      allowPrivateUrls: true,
      worker: { enabled: false },
    });
    const local = await allowing.submit('alice', {
      provider: 'luma',
      prompt: 'x',
      webhookUrl: 'http://127.0.0.1:9/hook',
    });
    expect(local.webhookUrl).toBe('http://127.0.0.1:9/hook');
    await allowing.cancel('alice', local.id);
  });

  it('pins the credential version: a rotation mid-job neither strands nor switches it', async () => {
    simulator.addFault({ provider: 'runway', latencyMs: 100, count: 6 });
    const job = await submitted('alice', { provider: 'runway', model: 'gen4.5', prompt: 'pinned' });
    await waitForJob(server.app, admin(), 'alice', job.id, (seen) => seen.attempts[0]?.status === 'running');
    const rotated = await store('alice', 'runway', { apiKey: key('runway') });
    const version = rotated.version ?? 0;
    expect(version).toBeGreaterThan(1);
    const done = await finished('alice', job.id);
    expect(done.status).toBe('succeeded');
    expect(done.attempts[0]?.credentialVersion).toBe(version - 1);
    // Released at the end: the superseded version is purged once nothing references it.
    const db = server.keyhaven.database.db;
    await eventually(async () => {
      const references = await db
        .selectFrom('credential_references')
        .selectAll()
        .where('holder', '=', `video:${job.id}`)
        .execute();
      return references.length === 0;
    });
    const versions = await db
      .selectFrom('credentials')
      .select('version')
      .where('user_id', '=', 'alice')
      .where('provider', '=', 'runway')
      .execute();
    expect(versions.map((row) => row.version)).not.toContain(version - 1);
  });

  it("deletes a user's jobs with the user, stopping the running ones at the provider", async () => {
    await store('dora', 'luma', { apiKey: key('luma') });
    simulator.addFault({ provider: 'luma', latencyMs: 150, count: 20 });
    const running = await submitted('dora', { provider: 'luma', prompt: 'to be forgotten' });
    await waitForJob(server.app, admin(), 'dora', running.id, (job) => job.attempts[0]?.status === 'running');
    const deletes = () =>
      simulator.requests.filter((request) => request.provider === 'luma' && request.method === 'DELETE')
        .length;
    const before = deletes();
    const response = await server.app.inject({ method: 'DELETE', url: '/v1/users/dora', headers: admin() });
    expect(response.statusCode).toBe(204);
    expect(deletes()).toBe(before + 1);
    const gone = await server.app.inject({ url: `/v1/users/dora/videos/${running.id}`, headers: admin() });
    expect(gone.statusCode).toBe(404);
    const rows = await server.keyhaven.database.db
      .selectFrom('video_attempts')
      .select('job_id')
      .where('user_id', '=', 'dora')
      .execute();
    expect(rows).toEqual([]);
  });

  it('publishes the routes in the OpenAPI document', async () => {
    const document = (await server.app.inject({ url: '/openapi.json' })).json<{
      paths: Record<string, unknown>;
    }>();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/users/{userId}/videos',
        '/v1/users/{userId}/videos/batch',
        '/v1/users/{userId}/videos/{id}',
      ]),
    );
  });
});
