import { randomBytes } from 'node:crypto';
import {
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  RateLimitError,
  RunwayML,
  TaskFailedError,
} from '@runwayml/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runwaySimulation } from '../../src/simulator/providers/runway.ts';
import { type Simulator, startSimulator } from '../../src/simulator/server.ts';

/**
 * The official Runway SDK (@runwayml/sdk) as a real client of the simulator: it must parse what the
 * simulator sends exactly as it parses Runway, and raise its own error classes for Runway's errors.
 */
const KEY = `key_test_${randomBytes(32).toString('hex')}`;
const IMAGE =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [runwaySimulation], keys: { runway: [KEY] } });
});
afterAll(() => simulator.close());
afterEach(() => {
  simulator.reset();
  vi.useRealTimers();
});

/** Runs the SDK's fixed 6-second poll waits on fake timers, so a three-poll task takes milliseconds. */
async function withFastPolls<T>(promise: Promise<T>): Promise<T> {
  let settled = false;
  const watched = promise.finally(() => {
    settled = true;
  });
  watched.catch(() => {});
  for (let step = 0; step < 40 && !settled; step += 1) await vi.advanceTimersByTimeAsync(2000);
  return watched;
}

const client = (apiKey = KEY) =>
  new RunwayML({ apiKey, baseURL: simulator.baseURL('runway'), maxRetries: 0 });

describe('@runwayml/sdk against the simulator', () => {
  it('retrieves the organization, sending the version header Runway requires', async () => {
    const organization = await client().organization.retrieve();
    expect(organization.creditBalance).toBeGreaterThan(0);
    expect(organization.tier.models.gen4_turbo).toEqual({
      maxConcurrentGenerations: 2,
      maxDailyGenerations: 50,
    });
    expect(organization.usage.models['gen4.5']?.dailyGenerations).toBe(0);
    expect(simulator.requests.at(-1)?.headers['x-runway-version']).toBe('2024-11-06');
  });

  it('creates a text-to-video task and reads it through PENDING and RUNNING to SUCCEEDED', async () => {
    const runway = client();
    const created = await runway.textToVideo.create({
      model: 'gen4.5',
      promptText: 'a lighthouse at dusk',
      ratio: '1280:720',
      duration: 5,
    });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.estimatedCost.credits).toBe(60);

    const pending = await runway.tasks.retrieve(created.id);
    expect(pending).toMatchObject({ id: created.id, status: 'PENDING', estimatedCost: { credits: 60 } });
    expect(Number.isNaN(Date.parse(pending.createdAt))).toBe(false);
    const running = await runway.tasks.retrieve(created.id);
    expect(running.status).toBe('RUNNING');
    expect(running.status === 'RUNNING' && running.progress).toBeCloseTo(2 / 3);
    const succeeded = await runway.tasks.retrieve(created.id);
    if (succeeded.status !== 'SUCCEEDED') throw new Error(`expected SUCCEEDED, got ${succeeded.status}`);
    expect(succeeded.cost.credits).toBe(60);
    const [url] = succeeded.output;
    expect(url).toMatch(/\/runway\/outputs\/.+\.mp4\?_jwt=/);
    const file = await fetch(url ?? '');
    expect(file.headers.get('content-type')).toBe('video/mp4');
  });

  it('creates an image-to-video task and waits for its output with waitForTaskOutput', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const waiting = client()
      .imageToVideo.create({ model: 'gen4_turbo', promptImage: IMAGE, ratio: '1280:720', duration: 5 })
      .waitForTaskOutput();
    const task = await withFastPolls(waiting);
    expect(task.status).toBe('SUCCEEDED');
    expect(task.output).toHaveLength(1);
    expect(simulator.requests.filter((request) => request.path.startsWith('/v1/tasks/'))).toHaveLength(3);
  });

  it('raises TaskFailedError with the failure code for a failed task', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const waiting = client()
      .textToVideo.create({
        model: 'veo3.1',
        promptText: 'simulate:fail a storm',
        ratio: '1920:1080',
        duration: 8,
      })
      .waitForTaskOutput();
    const error = await withFastPolls(waiting).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).taskDetails).toMatchObject({
      status: 'FAILED',
      failureCode: 'SAFETY.INPUT.TEXT',
    });
  });

  it('cancels a task with tasks.delete, after which Runway answers 404 for it', async () => {
    const runway = client();
    const { id } = await runway.textToVideo.create({
      model: 'gen4.5',
      promptText: 'a kite',
      ratio: '720:1280',
      duration: 2,
    });
    expect((await runway.tasks.retrieve(id)).status).toBe('PENDING');
    await runway.tasks.delete(id);
    expect(simulator.requests.at(-1)).toMatchObject({ method: 'DELETE', path: `/v1/tasks/${id}` });
    await expect(runway.tasks.retrieve(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(runway.tasks.delete(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('raises the SDK error classes for Runway errors', async () => {
    const unauthorized = await client('key_test_wrong')
      .organization.retrieve()
      .catch((error: unknown) => error);
    expect(unauthorized).toBeInstanceOf(AuthenticationError);
    expect((unauthorized as AuthenticationError).error).toMatchObject({
      error: expect.stringMatching(/incorrect/),
    });

    const invalid = await client()
      .textToVideo.create({ model: 'gen4.5', promptText: 'a fox', ratio: '1280:720', duration: 42 })
      .catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(BadRequestError);
    expect((invalid as BadRequestError).error).toMatchObject({
      error: 'Validation of body failed',
      issues: [{ path: ['duration'] }],
    });

    simulator.addFault({ provider: 'runway', status: 429, retryAfterSeconds: 3, count: 1 });
    const limited = await client()
      .organization.retrieve()
      .catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(RateLimitError);
    expect((limited as RateLimitError).headers?.get('retry-after')).toBe('3');
  });
});
