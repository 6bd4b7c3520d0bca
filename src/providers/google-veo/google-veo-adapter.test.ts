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
import { googleVeoSimulation } from '../../simulator/providers/google-veo.ts';
import { costOf } from '../prices/index.ts';
import type { Credentials, ProviderAdapter, VideoRequest, VideoStatus } from '../spec.ts';
import type { UpstreamErrorKind } from '../upstream-error.ts';
import { googleVeoProvider } from './index.ts';

const KEY = `test-gemini-CANARY-${randomBytes(16).toString('hex')}`;
const PNG_DATA_URL = `data:image/png;base64,${Buffer.from('89504e470d0a1a0a', 'hex').toString('base64')}`;

const simulator = useSimulator({ providers: [googleVeoSimulation], keys: { 'google-veo': [KEY] } });

function adapter(
  credentials: () => Credentials = keyOnly(KEY),
  baseURL = simulator.baseURL('google-veo'),
): ProviderAdapter {
  return googleVeoProvider.createAdapter({ baseURL, fetch: globalThis.fetch, credentials });
}

function video(target = adapter()) {
  const model = target.video;
  if (!model) throw new Error('google-veo has a video model');
  return model;
}

async function runToEnd(request: VideoRequest, target = adapter()): Promise<{ statuses: VideoStatus[] }> {
  const model = video(target);
  const { operation } = await model.start(request);
  const statuses: VideoStatus[] = [];
  for (let poll = 0; poll < 10; poll += 1) {
    const status = await model.status(operation);
    statuses.push(status);
    if (status.state !== 'pending') break;
  }
  return { statuses };
}

describe('google-veo validate (Gemini API key)', () => {
  it('is valid for an accepted key, sent in x-goog-api-key and never in the URL', async () => {
    expect(await adapter().validate()).toEqual({ status: 'valid' });
    const [request] = simulator.requests;
    expect(request?.path).toBe('/v1beta/models?pageSize=1');
    expect(request?.headers['x-goog-api-key']).toBe(KEY);
  });

  it("is invalid for an unknown key, with Google's reason", async () => {
    const result = await adapter(keyOnly('test-gemini-unknown')).validate();
    expect(result).toEqual({
      status: 'invalid',
      reason: 'google-veo: API key not valid. Please pass a valid API key.',
    });
  });

  it('is unreachable when nothing listens', async () => {
    const result = await adapter(keyOnly(KEY), await closedPortURL()).validate();
    expect(result).toEqual({
      status: 'unreachable',
      reason: 'google-veo: could not connect to the provider',
    });
  });

  it('is rate-limited with the wait from RetryInfo', async () => {
    simulator.addFault({ provider: 'google-veo', status: 429, retryAfterSeconds: 7 });
    expect(await adapter().validate()).toEqual({ status: 'rate_limited', retryAfterMs: 7000 });
  });

  it('is invalid, before any call, for a credential with neither field', async () => {
    const result = await adapter(() => ({})).validate();
    expect(result.status).toBe('invalid');
    expect(simulator.requests).toHaveLength(0);
  });
});

describe('google-veo video (Gemini API key)', () => {
  it('starts with the documented body and polls to success with usage and a download URL', async () => {
    const model = video();
    const started = await model.start({
      prompt: 'A lighthouse at dawn',
      model: 'veo-3.1-generate-preview',
      durationSeconds: 6,
      aspectRatio: '9:16',
      resolution: '1080p',
      negativePrompt: 'fog',
      image: PNG_DATA_URL,
    });
    expect(started.model).toBe('veo-3.1-generate-preview');
    expect(started.warnings).toEqual([]);
    const [request] = simulator.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/v1beta/models/veo-3.1-generate-preview:predictLongRunning');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      instances: [
        {
          prompt: 'A lighthouse at dawn',
          image: { bytesBase64Encoded: PNG_DATA_URL.split(',')[1], mimeType: 'image/png' },
        },
      ],
      parameters: {
        sampleCount: 1,
        durationSeconds: 6,
        aspectRatio: '9:16',
        resolution: '1080p',
        negativePrompt: 'fog',
      },
    });

    const seen: VideoStatus[] = [];
    for (let poll = 0; poll < 5; poll += 1) {
      const status = await model.status(started.operation);
      seen.push(status);
      if (status.state !== 'pending') break;
    }
    expect(seen.map((status) => status.state)).toEqual(['pending', 'pending', 'succeeded']);
    const done = seen.at(-1);
    if (done?.state !== 'succeeded') throw new Error('expected success');
    expect(done.usage.videoSeconds).toBe(6);
    expect(done.outputs).toHaveLength(1);
    const [output] = done.outputs;
    expect(output?.mediaType).toBe('video/mp4');
    expect(output?.url).toMatch(/\/v1beta\/files\/[a-z0-9]+:download\?alt=media$/);
    // The operation is polled at Google's operation name, with the key in the header.
    const polls = simulator.requests.filter((entry) => entry.method === 'GET');
    expect(polls[0]?.path).toMatch(/^\/v1beta\/models\/veo-3\.1-generate-preview\/operations\/[a-z0-9]+$/);
    // The URL downloads the video with the key in a header, as Google's does.
    const download = await fetch(output?.url ?? '', { headers: { 'x-goog-api-key': KEY } });
    expect(download.headers.get('content-type')).toBe('video/mp4');
    expect((await download.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });

  it('uses Google defaults (8 s, 720p, 16:9, the fast model) and warns that seed is Vertex-only', async () => {
    const started = await video().start({ prompt: 'Waves', seed: 42 });
    expect(started.model).toBe('veo-3.1-fast-generate-preview');
    expect(started.warnings).toEqual([expect.stringMatching(/seed .*Vertex AI only/)]);
    const body = JSON.parse(simulator.requests[0]?.body ?? '');
    expect(body.parameters).toEqual({
      sampleCount: 1,
      durationSeconds: 8,
      aspectRatio: '16:9',
      resolution: '720p',
    });
  });

  it('costs what the price table says: veo-3.1-fast, 8 s at 1080p = 8 x 0.12 USD', async () => {
    const { statuses } = await runToEnd({
      prompt: 'A fox in snow',
      model: 'veo-3.1-fast-generate-preview',
      durationSeconds: 8,
      resolution: '1080p',
    });
    const done = statuses.at(-1);
    if (done?.state !== 'succeeded') throw new Error('expected success');
    const price = googleVeoProvider.models.find(
      (model) => model.id === 'veo-3.1-fast-generate-preview',
    )?.price;
    expect(costOf(price, done.usage, '1080p')).toBe(960_000);
  });

  it('reports a failed job with its Google code, retryable when Google failed internally', async () => {
    const { statuses } = await runToEnd({ prompt: 'simulate:fail a storm' });
    expect(statuses.at(-1)).toEqual({
      state: 'failed',
      code: 'INTERNAL',
      message: expect.stringMatching(/internal error/),
      retryable: true,
    });
    simulator.addFault({ provider: 'google-veo', jobFailure: true, count: 1 });
    const underFault = await runToEnd({ prompt: 'A calm lake' });
    expect(underFault.statuses.at(-1)).toMatchObject({ state: 'failed', code: 'INTERNAL' });
  });

  it('reports filtered output as content_filtered, not retryable', async () => {
    const { statuses } = await runToEnd({ prompt: 'simulate:filtered a child on a swing' });
    expect(statuses.at(-1)).toEqual({
      state: 'failed',
      code: 'content_filtered',
      message: expect.stringMatching(/photorealistic children/),
      retryable: false,
    });
  });

  it('refuses, before any call, what Veo cannot be sent', async () => {
    const model = video();
    const cases: [VideoRequest, UpstreamErrorKind, RegExp][] = [
      [{ prompt: 'x', image: 'https://example.com/cat.png' }, 'unsupported', /inline.*data:image/],
      [{ prompt: 'x', image: 'ftp://example.com/cat.png' }, 'bad_request', /data:image/],
      [{ prompt: 'x', image: 'data:image/gif;base64,R0lGOD==' }, 'unsupported', /image\/gif/],
      [{ prompt: 'x', durationSeconds: 5 }, 'unsupported', /durationSeconds 5 .*4, 6, 8/],
      [{ prompt: 'x', model: 'veo-3.0-generate-001', resolution: '4k' }, 'unsupported', /resolution "4k"/],
      [{ prompt: 'x', aspectRatio: '1:1' }, 'unsupported', /aspectRatio "1:1"/],
      [{ prompt: 'x', model: 'veo-9' }, 'unsupported', /not a supported Veo model/],
      [{ prompt: '   ' }, 'bad_request', /prompt/],
    ];
    for (const [request, kind, message] of cases) {
      const error = await upstreamFailure(model.start(request));
      expect(error.kind, JSON.stringify(request)).toBe(kind);
      expect(error.message).toMatch(message);
    }
    expect(simulator.requests).toHaveLength(0);
  });

  it('refuses an operation it did not hand out', async () => {
    const model = video();
    for (const operation of [
      'nonsense',
      'google-veo:e30',
      `google-veo:${Buffer.from(JSON.stringify({ api: 'gemini', name: '../../v1beta/models', model: 'm', durationSeconds: 8, resolution: '720p' })).toString('base64url')}`,
    ]) {
      expect((await upstreamFailure(model.status(operation))).kind).toBe('bad_request');
    }
    expect(simulator.requests).toHaveLength(0);
  });

  it('does not pretend an operation started with an API key can be read with a service account', async () => {
    const { operation } = await video().start({ prompt: 'Clouds' });
    const switched = adapter(() => ({ serviceAccount: new SecretValue('{"type":"service_account"}') }));
    const error = await upstreamFailure(video(switched).status(operation));
    expect(error.kind).toBe('bad_request');
  });
});

describe('google-veo errors (Gemini API key)', () => {
  const cases: [
    number,
    { retryAfterSeconds?: number; quotaExhausted?: boolean },
    UpstreamErrorKind,
    boolean,
  ][] = [
    [403, {}, 'permission', false],
    [404, {}, 'not_found', false],
    [429, { retryAfterSeconds: 12 }, 'rate_limited', true],
    [429, { quotaExhausted: true }, 'quota_exhausted', false],
    [402, {}, 'quota_exhausted', false],
    [500, {}, 'server_error', true],
    [503, {}, 'overloaded', true],
    [529, {}, 'overloaded', true],
    [504, {}, 'timeout', true],
    [400, {}, 'bad_request', false],
  ];
  it.each(cases)('maps an injected %i (%o) to %s', async (status, options, kind, retryable) => {
    simulator.addFault({ provider: 'google-veo', status: status as 400, ...options, count: 1 });
    const error = await upstreamFailure(video().start({ prompt: 'A meadow' }));
    expect(error.kind).toBe(kind);
    expect(error.retryable).toBe(retryable);
    expect(error.provider).toBe('google-veo');
    if (options.retryAfterSeconds) expect(error.retryAfterMs).toBe(12_000);
  });

  it('maps an invalid key on a call to authentication with reason API_KEY_INVALID', async () => {
    const error = await upstreamFailure(
      video(adapter(keyOnly('test-gemini-revoked'))).start({ prompt: 'A meadow' }),
    );
    expect(error).toMatchObject({ kind: 'authentication', status: 400, providerCode: 'API_KEY_INVALID' });
  });
});

describe('google-veo secrets (Gemini API key)', () => {
  it('never shows the key in errors, console output or URLs, and reads it per request', async () => {
    let reads = 0;
    let current = KEY;
    const target = adapter(() => {
      reads += 1;
      return { apiKey: new SecretValue(current) };
    });
    const errors: unknown[] = [];
    const printed = await capturingConsole(async () => {
      await video(target).start({ prompt: 'Sunrise' });
      for (const status of [401, 403, 429, 500, 503] as const) {
        simulator.addFault({ provider: 'google-veo', status, count: 1 });
        errors.push(
          await video(target)
            .start({ prompt: 'Sunrise' })
            .catch((caught: unknown) => caught),
        );
      }
      errors.push(
        await video(target)
          .status('google-veo:garbage')
          .catch((caught: unknown) => caught),
      );
      errors.push(
        await video(target)
          .start({ prompt: 'x', image: 'https://a.example/i.png' })
          .catch((e: unknown) => e),
      );
      current = `${KEY}-rotated`;
      errors.push(await target.validate());
      current = KEY;
    });
    expect(reads).toBeGreaterThanOrEqual(8);
    expect(simulator.requests.some((request) => request.headers['x-goog-api-key'] === `${KEY}-rotated`)).toBe(
      true,
    );
    const seen = [
      ...errors.flatMap(errorViews),
      ...printed,
      ...simulator.requests.map((request) => request.path),
    ].join('\n');
    expect(errors).toHaveLength(8);
    for (const form of [KEY, encodeURIComponent(KEY), Buffer.from(KEY).toString('base64')]) {
      expect(seen).not.toContain(form);
    }
    // The key did travel, in the one header meant for it.
    expect(
      simulator.requests.every((request) => request.headers['x-goog-api-key']?.toString().startsWith(KEY)),
    ).toBe(true);
  });
});
