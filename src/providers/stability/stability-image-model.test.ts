import { randomBytes } from 'node:crypto';
import { crc32, inflateSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SecretValue } from '../../crypto/index.ts';
import { stabilitySimulation } from '../../simulator/providers/stability.ts';
import { type Simulator, startSimulator } from '../../simulator/server.ts';
import { costOf } from '../prices/index.ts';
import type { ImageRequest } from '../spec.ts';
import { isUpstreamError, type UpstreamErrorKind } from '../upstream-error.ts';
import { stabilityProvider } from './index.ts';

const KEY = `sk-test-stability-${randomBytes(16).toString('hex')}`;
let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [stabilitySimulation], keys: { stability: [KEY] } });
});
afterAll(() => simulator.close());
afterEach(() => simulator.reset());

function setup(
  fetchImplementation: typeof fetch = globalThis.fetch,
  baseURL = simulator.baseURL('stability'),
) {
  const fetchSpy = vi.fn(fetchImplementation);
  const credentials = vi.fn(() => ({ apiKey: new SecretValue(KEY) }));
  const adapter = stabilityProvider.createAdapter({ baseURL, fetch: fetchSpy, credentials });
  if (!adapter.image) throw new Error('stability has an image model');
  return { image: adapter.image, fetchSpy, credentials };
}

/** Decodes a PNG far enough to trust it: signature, chunk CRCs, IHDR size, and inflatable pixel data. */
function decodePng(bytes: Buffer): { width: number; height: number; pixels: Buffer } {
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let offset = 8;
  let width = 0;
  let height = 0;
  const data: Buffer[] = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.subarray(offset + 4, offset + 8).toString('latin1');
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    expect(bytes.readUInt32BE(offset + 8 + length)).toBe(
      crc32(bytes.subarray(offset + 4, offset + 8 + length)),
    );
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
    }
    if (type === 'IDAT') data.push(body);
    offset += 12 + length;
    if (type === 'IEND') break;
  }
  return { width, height, pixels: inflateSync(Buffer.concat(data)) };
}

/** The multipart fields the simulator received in the last request. */
async function lastForm(): Promise<Record<string, string>> {
  const request = simulator.requests.at(-1);
  const form = await new Request('http://form.invalid/', {
    method: 'POST',
    headers: { 'content-type': String(request?.headers['content-type']) },
    body: request?.body ?? '',
  }).formData();
  return Object.fromEntries([...form.entries()].map(([name, value]) => [name, String(value)]));
}

describe('stability image generation', () => {
  it('generates a PNG with Stable Image Core through a multipart request', async () => {
    const { image } = setup();
    const result = await image.generate({
      prompt: 'a lighthouse on a cliff',
      aspectRatio: '16:9',
      negativePrompt: 'fog',
      seed: 42,
    });
    expect(result.model).toBe('core');
    expect(result.warnings).toEqual([]);
    expect(result.usage).toMatchObject({ images: 1, videoSeconds: 0, inputTokens: 0 });
    const [generated] = result.images;
    expect(generated?.mediaType).toBe('image/png');
    const png = decodePng(Buffer.from(generated?.base64 ?? '', 'base64'));
    expect(png).toMatchObject({ width: 1, height: 1 });
    // One filter byte and four RGBA bytes per row.
    expect(png.pixels).toHaveLength(5);

    const request = simulator.requests.at(-1);
    expect(request?.path).toBe('/v2beta/stable-image/generate/core');
    expect(request?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(request?.headers.accept).toBe('application/json');
    expect(await lastForm()).toEqual({
      prompt: 'a lighthouse on a cliff',
      aspect_ratio: '16:9',
      negative_prompt: 'fog',
      seed: '42',
      output_format: 'png',
    });
  });

  it('sends SD 3.5 models to the sd3 endpoint, naming the model', async () => {
    const { image } = setup();
    const result = await image.generate({ prompt: 'a fox', model: 'sd3.5-medium', outputFormat: 'jpeg' });
    expect(simulator.requests.at(-1)?.path).toBe('/v2beta/stable-image/generate/sd3');
    expect(await lastForm()).toEqual({ prompt: 'a fox', model: 'sd3.5-medium', output_format: 'jpeg' });
    expect(result.images[0]?.mediaType).toBe('image/jpeg');
    expect(
      Buffer.from(result.images[0]?.base64 ?? '', 'base64')
        .subarray(0, 3)
        .toString('hex'),
    ).toBe('ffd8ff');
  });

  it('uses the ultra endpoint and returns WebP when asked', async () => {
    const { image } = setup();
    const result = await image.generate({ prompt: 'a fox', model: 'ultra', outputFormat: 'webp' });
    expect(simulator.requests.at(-1)?.path).toBe('/v2beta/stable-image/generate/ultra');
    const bytes = Buffer.from(result.images[0]?.base64 ?? '', 'base64');
    expect([bytes.subarray(0, 4).toString(), bytes.subarray(8, 12).toString()]).toEqual(['RIFF', 'WEBP']);
    expect(result.images[0]?.mediaType).toBe('image/webp');
  });

  it('warns, and does not send, a negative prompt SD 3.5 Large Turbo ignores', async () => {
    const { image } = setup();
    const result = await image.generate({
      prompt: 'a fox',
      model: 'sd3.5-large-turbo',
      negativePrompt: 'blur',
    });
    expect(result.warnings).toEqual([
      'negativePrompt is not supported by sd3.5-large-turbo and was not sent',
    ]);
    expect(await lastForm()).not.toHaveProperty('negative_prompt');
  });

  it('turns finish_reason CONTENT_FILTERED into a content_filtered error', async () => {
    const { image } = setup();
    const error = await image
      .generate({ prompt: 'simulate:filter a scene' })
      .catch((caught: unknown) => caught);
    expect(isUpstreamError(error, 'content_filtered')).toBe(true);
    expect(error).toMatchObject({ providerCode: 'CONTENT_FILTERED', retryable: false, status: 200 });
  });

  it('turns a 403 content_moderation refusal into a content_filtered error', async () => {
    const { image } = setup();
    const error = await image.generate({ prompt: 'simulate:moderation' }).catch((caught: unknown) => caught);
    expect(isUpstreamError(error, 'content_filtered')).toBe(true);
    expect(error).toMatchObject({ status: 403, providerCode: 'content_moderation' });
    expect(String(error)).toMatch(/flagged by our content moderation system/);
  });

  it('costs 30000 micro-USD for one Core image (USD 0.03) and null for unpriced Ultra', async () => {
    const { image } = setup();
    const result = await image.generate({ prompt: 'a fox' });
    const price = (id: string) => stabilityProvider.models.find((model) => model.id === id)?.price;
    expect(costOf(price('core'), result.usage)).toBe(30_000);
    expect(costOf(price('sd3.5-large'), result.usage)).toBe(65_000);
    expect(costOf(price('ultra'), result.usage)).toBeNull();
  });

  it('calls an answer that is not a generated image invalid_response', async () => {
    const { image } = setup(async () => Response.json({ artifacts: [] }), 'http://stability.invalid');
    const error = await image.generate({ prompt: 'a fox' }).catch((caught: unknown) => caught);
    expect(isUpstreamError(error, 'invalid_response')).toBe(true);
  });
});

describe('stability refuses bad input before any network call', () => {
  const cases: [string, ImageRequest, UpstreamErrorKind, RegExp][] = [
    [
      'an aspect ratio Stability has not',
      { prompt: 'a fox', aspectRatio: '4:3' },
      'unsupported',
      /aspectRatio "4:3" is not supported by Stability \(supported: 21:9, 16:9, 3:2, 5:4, 1:1, 4:5, 2:3, 9:16, 9:21\)/,
    ],
    [
      'WebP from an SD 3.5 model',
      { prompt: 'a fox', model: 'sd3.5-large', outputFormat: 'webp' },
      'unsupported',
      /outputFormat "webp" is not supported by sd3\.5-large \(supported: png, jpeg\)/,
    ],
    [
      'an unknown model',
      { prompt: 'a fox', model: 'sdxl-0.9' },
      'unsupported',
      /"sdxl-0\.9" is not a supported/,
    ],
    ['an empty prompt', { prompt: ' ' }, 'bad_request', /prompt must not be empty/],
    [
      'a seed out of range',
      { prompt: 'a fox', seed: 4_294_967_295 },
      'bad_request',
      /seed must be an integer/,
    ],
  ];

  it.each(cases)('%s', async (_name, request, kind, message) => {
    const { image, fetchSpy, credentials } = setup();
    const error = await image.generate(request).catch((caught: unknown) => caught);
    expect(isUpstreamError(error, kind)).toBe(true);
    expect(String(error)).toMatch(message);
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(credentials).not.toHaveBeenCalled();
  });
});
