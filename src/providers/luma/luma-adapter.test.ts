import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  capturingConsole,
  closedPortURL,
  errorViews,
  keyOnly,
  upstreamFailure,
  useSimulator,
} from '../../../test/support/providers.ts';
import { SecretValue } from '../../crypto/index.ts';
import { lumaSimulation } from '../../simulator/providers/luma.ts';
import { costOf } from '../prices/index.ts';
import type { Credentials, ProviderAdapter, VideoRequest, VideoStatus } from '../spec.ts';
import { isUpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import { lumaProvider } from './index.ts';

const KEY = `luma-test-CANARY-${randomBytes(16).toString('hex')}`;

const simulator = useSimulator({ providers: [lumaSimulation], keys: { luma: [KEY] } });

function adapter(
  credentials: () => Credentials = keyOnly(KEY),
  baseURL = simulator.baseURL('luma'),
): ProviderAdapter {
  return lumaProvider.createAdapter({ baseURL, fetch: globalThis.fetch, credentials });
}

function video(target = adapter()) {
  if (!target.video) throw new Error('luma has a video model');
  return target.video;
}

async function pollToEnd(operation: string, target = adapter()): Promise<VideoStatus[]> {
  const statuses: VideoStatus[] = [];
  for (let poll = 0; poll < 10; poll += 1) {
    const status = await video(target).status(operation);
    statuses.push(status);
    if (status.state !== 'pending') break;
  }
  return statuses;
}

describe('luma validate', () => {
  it('is valid for an accepted key, sent as a Bearer token to /credits', async () => {
    expect(await adapter().validate()).toEqual({ status: 'valid' });
    const [request] = simulator.requests;
    expect(request?.path).toBe('/dream-machine/v1/credits');
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it("is invalid for an unknown key, with Luma's reason", async () => {
    expect(await adapter(keyOnly('luma-test-unknown')).validate()).toEqual({
      status: 'invalid',
      reason: 'luma: Invalid API key',
    });
  });

  it('is unreachable when nothing listens', async () => {
    expect(await adapter(keyOnly(KEY), await closedPortURL()).validate()).toEqual({
      status: 'unreachable',
      reason: 'luma: could not connect to the provider',
    });
  });

  it('is rate-limited with the wait from Retry-After', async () => {
    simulator.addFault({ provider: 'luma', status: 429, retryAfterSeconds: 4 });
    expect(await adapter().validate()).toEqual({ status: 'rate_limited', retryAfterMs: 4000 });
  });
});

describe('luma video', () => {
  it('starts with the documented body and polls queued -> dreaming -> completed', async () => {
    const model = video();
    const started = await model.start({
      prompt: 'A heron taking off',
      model: 'ray-2',
      durationSeconds: 9,
      resolution: '1080p',
      aspectRatio: '21:9',
      image: 'https://images.example/heron.jpg',
    });
    expect(started).toMatchObject({ model: 'ray-2', warnings: [] });
    const [request] = simulator.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/dream-machine/v1/generations/video');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      model: 'ray-2',
      prompt: 'A heron taking off',
      aspect_ratio: '21:9',
      duration: '9s',
      resolution: '1080p',
      keyframes: { frame0: { type: 'image', url: 'https://images.example/heron.jpg' } },
    });
    const statuses = await pollToEnd(started.operation);
    expect(statuses.map((status) => status.state)).toEqual(['pending', 'pending', 'succeeded']);
    const done = statuses.at(-1);
    if (done?.state !== 'succeeded') throw new Error('expected success');
    expect(done.usage.videoSeconds).toBe(9);
    expect(done.outputs).toEqual([{ url: expect.stringMatching(/\/video\.mp4$/), mediaType: 'video/mp4' }]);
    // Luma's assets are public CDN URLs: they download without the key.
    const download = await fetch(done.outputs[0]?.url ?? '');
    expect(download.headers.get('content-type')).toBe('video/mp4');
    // Luma has no per-second price: the cost is unpriced (null), never 0.
    const price = lumaProvider.models.find((entry) => entry.id === 'ray-2')?.price;
    expect(costOf(price, done.usage, '1080p')).toBeNull();
  });

  it('uses the defaults (ray-flash-2, 5 s, 720p, 16:9) and warns about what Luma does not have', async () => {
    const started = await video().start({ prompt: 'Fireflies', negativePrompt: 'blur', seed: 3 });
    expect(started.model).toBe('ray-flash-2');
    expect(started.warnings).toEqual([
      'negativePrompt is not supported by Luma and was not sent',
      'seed is not supported by Luma and was not sent',
    ]);
    expect(JSON.parse(simulator.requests[0]?.body ?? '')).toEqual({
      model: 'ray-flash-2',
      prompt: 'Fireflies',
      aspect_ratio: '16:9',
      duration: '5s',
      resolution: '720p',
    });
  });

  it('reports a moderation failure as not retryable and its own failure as retryable', async () => {
    const moderated = await pollToEnd((await video().start({ prompt: 'simulate:fail something' })).operation);
    expect(moderated.at(-1)).toEqual({
      state: 'failed',
      code: 'content_filtered',
      message: 'Advanced prompt moderation failed',
      retryable: false,
    });
    simulator.addFault({ provider: 'luma', jobFailure: true, count: 1 });
    const failed = await pollToEnd((await video().start({ prompt: 'A quiet street' })).operation);
    expect(failed.at(-1)).toEqual({
      state: 'failed',
      code: 'generation_failed',
      message: 'Prompt processing failed',
      retryable: true,
    });
  });

  it('cancels by deleting the generation', async () => {
    const model = video();
    const { operation } = await model.start({ prompt: 'A slow train' });
    await model.cancel?.(operation);
    expect(simulator.requests.at(-1)?.method).toBe('DELETE');
    expect((await upstreamFailure(model.status(operation))).kind).toBe('not_found');
  });

  it('refuses, before any call, what Luma cannot be sent', async () => {
    const model = video();
    const cases: [VideoRequest, UpstreamErrorKind, RegExp][] = [
      [{ prompt: 'abc', image: 'data:image/png;base64,iVBORw0=' }, 'unsupported', /https URL/],
      [{ prompt: 'abc', image: 'http://images.example/a.png' }, 'bad_request', /https/],
      [{ prompt: 'abc', durationSeconds: 8 }, 'unsupported', /durationSeconds 8 .*5, 9/],
      [{ prompt: 'abc', resolution: '8k' }, 'unsupported', /resolution "8k"/],
      [{ prompt: 'abc', aspectRatio: '2:1' }, 'unsupported', /aspectRatio "2:1"/],
      [{ prompt: 'abc', model: 'ray-9' }, 'unsupported', /not a supported Luma model/],
      [{ prompt: 'ab' }, 'bad_request', /at least 3/],
    ];
    for (const [request, kind, message] of cases) {
      const error = await upstreamFailure(model.start(request));
      expect(error.kind, JSON.stringify(request)).toBe(kind);
      expect(error.message).toMatch(message);
    }
    expect((await upstreamFailure(model.status('luma:e30'))).kind).toBe('bad_request');
    expect(simulator.requests).toHaveLength(0);
  });
});

describe('luma errors', () => {
  const cases: [
    number,
    { retryAfterSeconds?: number; quotaExhausted?: boolean },
    UpstreamErrorKind,
    boolean,
  ][] = [
    [400, {}, 'bad_request', false],
    [401, {}, 'authentication', false],
    [402, {}, 'quota_exhausted', false],
    [403, {}, 'permission', false],
    [404, {}, 'not_found', false],
    [429, { retryAfterSeconds: 6 }, 'rate_limited', true],
    [429, { quotaExhausted: true }, 'quota_exhausted', false],
    [500, {}, 'server_error', true],
    [503, {}, 'overloaded', true],
  ];
  it.each(cases)('maps an injected %i (%o) to %s', async (status, options, kind, retryable) => {
    simulator.addFault({ provider: 'luma', status: status as 400, ...options, count: 1 });
    const error = await upstreamFailure(video().start({ prompt: 'A meadow' }));
    expect(error).toMatchObject({ kind, retryable, provider: 'luma' });
    if (options.retryAfterSeconds) expect(error.retryAfterMs).toBe(6000);
  });
});

describe('luma secrets', () => {
  it('never shows the key in errors, console output or URLs, and reads it per request', async () => {
    let current = KEY;
    let reads = 0;
    const target = adapter(() => {
      reads += 1;
      return { apiKey: new SecretValue(current) };
    });
    const errors: unknown[] = [];
    const printed = await capturingConsole(async () => {
      const { operation } = await video(target).start({ prompt: 'Snowfall' });
      for (const status of [401, 402, 429, 500] as const) {
        simulator.addFault({ provider: 'luma', status, count: 1 });
        errors.push(
          await video(target)
            .status(operation)
            .catch((caught: unknown) => caught),
        );
      }
      current = `${KEY}-rotated`;
      errors.push(
        await video(target)
          .status(operation)
          .catch((caught: unknown) => caught),
      );
      errors.push(await target.validate());
    });
    expect(reads).toBe(7);
    expect(simulator.requests.at(-1)?.headers.authorization).toBe(`Bearer ${KEY}-rotated`);
    expect(errors.filter((error) => isUpstreamError(error))).toHaveLength(5);
    const seen = [
      ...errors.flatMap(errorViews),
      ...printed,
      ...simulator.requests.map((request) => request.path),
    ].join('\n');
    for (const form of [KEY, encodeURIComponent(KEY), Buffer.from(KEY).toString('base64')]) {
      expect(seen).not.toContain(form);
    }
  });
});
