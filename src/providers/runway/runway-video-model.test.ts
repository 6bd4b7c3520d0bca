import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SecretValue } from '../../crypto/index.ts';
import { runwaySimulation } from '../../simulator/providers/runway.ts';
import { type Simulator, startSimulator } from '../../simulator/server.ts';
import { costOf } from '../prices/index.ts';
import type { VideoModel, VideoRequest, VideoStatus } from '../spec.ts';
import { isUpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import { runwayProvider } from './index.ts';
import { encodeRunwayOperation } from './runway-operation.ts';

const KEY = `key_test_${randomBytes(16).toString('hex')}`;
const IMAGE =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [runwaySimulation], keys: { runway: [KEY] } });
});
afterAll(() => simulator.close());
afterEach(() => simulator.reset());

function setup() {
  const fetchSpy = vi.fn(globalThis.fetch);
  const credentials = vi.fn(() => ({ apiKey: new SecretValue(KEY) }));
  const adapter = runwayProvider.createAdapter({
    baseURL: simulator.baseURL('runway'),
    fetch: fetchSpy,
    credentials,
  });
  if (!adapter.video) throw new Error('runway has a video model');
  return { video: adapter.video, fetchSpy, credentials };
}

async function pollToEnd(video: VideoModel, operation: string): Promise<VideoStatus[]> {
  const seen: VideoStatus[] = [];
  for (let poll = 0; poll < 10; poll += 1) {
    const status = await video.status(operation);
    seen.push(status);
    if (status.state !== 'pending') return seen;
  }
  throw new Error('the task never finished');
}

const lastBody = () => JSON.parse(simulator.requests.at(-1)?.body ?? 'null') as Record<string, unknown>;

describe('runway video start and status', () => {
  it('runs a text-to-video task to success over polls, with video seconds and a working output URL', async () => {
    const { video } = setup();
    const started = await video.start({ prompt: 'a lighthouse at dusk', durationSeconds: 5 });
    expect(started.model).toBe('gen4.5');
    expect(started.warnings).toEqual([]);
    expect(simulator.requests.at(-1)?.path).toBe('/v1/text_to_video');
    expect(lastBody()).toEqual({
      model: 'gen4.5',
      promptText: 'a lighthouse at dusk',
      ratio: '1280:720',
      duration: 5,
    });

    const seen = await pollToEnd(video, started.operation);
    expect(seen.map((status) => status.state)).toEqual(['pending', 'pending', 'succeeded']);
    expect(seen[0]).toEqual({ state: 'pending' });
    expect(seen[1]).toEqual({ state: 'pending', progress: expect.closeTo(2 / 3, 5) });
    const done = seen.at(-1);
    if (done?.state !== 'succeeded') throw new Error('expected success');
    expect(done.usage.videoSeconds).toBe(5);
    expect(done.usage.images).toBe(0);
    const [output] = done.outputs;
    expect(output?.mediaType).toBe('video/mp4');
    const file = await fetch(output?.url ?? '');
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('video/mp4');
    expect(
      Buffer.from(await file.arrayBuffer())
        .subarray(4, 8)
        .toString(),
    ).toBe('ftyp');
  });

  it('sends an image to image_to_video and maps our aspect ratio to Runway ratio', async () => {
    const { video } = setup();
    const started = await video.start({
      prompt: 'the waves move',
      image: IMAGE,
      aspectRatio: '21:9',
      seed: 42,
    });
    expect(started.model).toBe('gen4_turbo');
    expect(simulator.requests.at(-1)?.path).toBe('/v1/image_to_video');
    expect(lastBody()).toEqual({
      model: 'gen4_turbo',
      promptImage: IMAGE,
      promptText: 'the waves move',
      ratio: '1584:672',
      duration: 5,
      seed: 42,
    });
    const done = (await pollToEnd(video, started.operation)).at(-1);
    expect(done?.state).toBe('succeeded');
  });

  it('maps 9:16 at 1080p to Veo 1080:1920 and passes the negative prompt Veo supports', async () => {
    const { video } = setup();
    const started = await video.start({
      prompt: 'a city at night',
      model: 'veo3.1',
      aspectRatio: '9:16',
      resolution: '1080p',
      negativePrompt: 'rain',
    });
    expect(lastBody()).toEqual({
      model: 'veo3.1',
      promptText: 'a city at night',
      ratio: '1080:1920',
      duration: 8,
      negativePrompt: 'rain',
    });
    const done = (await pollToEnd(video, started.operation)).at(-1);
    expect(done?.state === 'succeeded' && done.usage.videoSeconds).toBe(8);
  });

  it('accepts Runway ratio strings as they are and warns about options the model lacks', async () => {
    const { video } = setup();
    const started = await video.start({
      prompt: 'a square dance',
      model: 'gen4.5',
      image: 'https://images.example.com/dancers.png',
      aspectRatio: '960:960',
      negativePrompt: 'blur',
    });
    expect(lastBody()).toMatchObject({ model: 'gen4.5', ratio: '960:960' });
    expect(lastBody()).not.toHaveProperty('negativePrompt');
    expect(started.warnings).toEqual(['negativePrompt is not supported by gen4.5 and was not sent']);
  });

  it('reports a moderation failure as not retryable, with Runway code and reason', async () => {
    const { video } = setup();
    const started = await video.start({ prompt: 'simulate:fail something' });
    expect((await pollToEnd(video, started.operation)).at(-1)).toEqual({
      state: 'failed',
      code: 'SAFETY.INPUT.TEXT',
      message: 'The prompt text was flagged by content moderation.',
      retryable: false,
    });
  });

  it('reports an internal failure (the jobFailure fault) as retryable', async () => {
    const { video } = setup();
    simulator.addFault({ provider: 'runway', jobFailure: true, count: 1 });
    const started = await video.start({ prompt: 'a meadow' });
    const done = (await pollToEnd(video, started.operation)).at(-1);
    expect(done).toMatchObject({ state: 'failed', code: 'INTERNAL.BAD_OUTPUT.CODE01', retryable: true });
  });

  it('cancels a running task, which Runway then forgets; cancelling again is harmless', async () => {
    const { video } = setup();
    const started = await video.start({ prompt: 'a slow sunrise' });
    expect(await video.status(started.operation)).toEqual({ state: 'pending' });
    await video.cancel?.(started.operation);
    expect(simulator.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: expect.stringMatching(/^\/v1\/tasks\//),
    });
    // Runway answers 404 for a cancelled task: status() says so rather than inventing a state.
    const gone = await video.status(started.operation).catch((error: unknown) => error);
    expect(isUpstreamError(gone, 'not_found')).toBe(true);
    expect(isUpstreamError(gone) && gone.retryable).toBe(false);
    expect(String(gone)).toContain('Could not find Task');
    await expect(video.cancel?.(started.operation)).resolves.toBeUndefined();
  });

  it('prices a finished gen4_turbo task from the usage status() reports', async () => {
    const { video } = setup();
    const started = await video.start({
      prompt: 'a kite',
      image: IMAGE,
      model: 'gen4_turbo',
      durationSeconds: 5,
    });
    const done = (await pollToEnd(video, started.operation)).at(-1);
    if (done?.state !== 'succeeded') throw new Error('expected success');
    const price = runwayProvider.models.find((model) => model.id === 'gen4_turbo')?.price;
    // 5 s × USD 0.05 per second = USD 0.25 = 250000 micro-USD.
    expect(costOf(price, done.usage, '720p')).toBe(250_000);
    // Models without a price in the table cost null, never 0.
    expect(runwayProvider.models.find((model) => model.id === 'gen4.5')?.price).toBeUndefined();
    expect(costOf(undefined, done.usage)).toBeNull();
  });
});

describe('runway refuses bad input before any network call', () => {
  const cases: [string, VideoRequest, UpstreamErrorKind, RegExp][] = [
    [
      'gen4_turbo without an image',
      { prompt: 'a fox', model: 'gen4_turbo' },
      'bad_request',
      /image is required/,
    ],
    [
      'an aspect ratio Runway has not',
      { prompt: 'a fox', aspectRatio: '4:5' },
      'unsupported',
      /aspectRatio "4:5" is not supported by gen4\.5 from text alone \(supported: 16:9, 9:16\)/,
    ],
    [
      'a ratio that needs an image',
      { prompt: 'a fox', model: 'gen4.5', aspectRatio: '1:1' },
      'unsupported',
      /aspectRatio "1:1"/,
    ],
    [
      'a resolution the model lacks',
      { prompt: 'a fox', image: IMAGE, resolution: '1080p' },
      'unsupported',
      /resolution "1080p" is not supported by gen4_turbo at 16:9 \(supported: 720p\)/,
    ],
    [
      'a duration Veo does not offer',
      { prompt: 'a fox', model: 'veo3.1', durationSeconds: 5 },
      'unsupported',
      /durationSeconds 5 is not supported by veo3\.1 \(supported: 4, 6, 8\)/,
    ],
    [
      'an unknown model',
      { prompt: 'a fox', model: 'gen9' },
      'unsupported',
      /"gen9" is not a supported Runway/,
    ],
    ['an http image', { prompt: 'a fox', image: 'http://example.com/a.png' }, 'bad_request', /https/],
    ['an empty prompt without an image', { prompt: '  ' }, 'bad_request', /prompt must not be empty/],
    ['a prompt over 1000 characters', { prompt: 'a'.repeat(1001) }, 'bad_request', /at most 1000/],
    ['a negative seed', { prompt: 'a fox', seed: -1 }, 'bad_request', /seed must be an integer/],
  ];

  it.each(cases)('%s', async (_name, request, kind, message) => {
    const { video, fetchSpy, credentials } = setup();
    const error = await video.start(request).catch((caught: unknown) => caught);
    expect(isUpstreamError(error, kind)).toBe(true);
    expect(String(error)).toMatch(message);
    expect(isUpstreamError(error) && error.retryable).toBe(false);
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(credentials).not.toHaveBeenCalled();
  });

  it('refuses an operation it did not hand out', async () => {
    const { video, fetchSpy } = setup();
    for (const operation of ['', 'task-123', 'runway:not-base64-json', `luma:${'x'.repeat(10)}`]) {
      const error = await video.status(operation).catch((caught: unknown) => caught);
      expect(isUpstreamError(error, 'bad_request')).toBe(true);
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('runway answers that are not tasks', () => {
  it('are invalid_response errors', async () => {
    const adapter = runwayProvider.createAdapter({
      baseURL: 'http://runway.invalid',
      fetch: async () => Response.json({ status: 'DONE', id: 7 }),
      credentials: () => ({ apiKey: new SecretValue(KEY) }),
    });
    const operation = encodeRunwayOperation({
      taskId: 'b2c6e0a4-6f3c-4a8e-9d69-2b8c7a1f0e11',
      model: 'gen4.5',
      durationSeconds: 5,
      resolution: '720p',
    });
    const startError = await adapter.video?.start({ prompt: 'a fox' }).catch((caught: unknown) => caught);
    expect(isUpstreamError(startError, 'invalid_response')).toBe(true);
    const statusError = await adapter.video?.status(operation).catch((caught: unknown) => caught);
    expect(isUpstreamError(statusError, 'invalid_response')).toBe(true);
  });
});
