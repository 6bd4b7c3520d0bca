import { describe, expect, it } from 'vitest';
import { stabilitySimulation } from '../../src/simulator/providers/stability.ts';
import { useSimulator } from '../support/providers.ts';

/**
 * Stability has no official JavaScript SDK, so its client here is what Stability's API reference
 * shows: fetch with a FormData body (the runtime sets the multipart boundary), `Authorization: Bearer`,
 * and `Accept: image/*` for raw bytes or `application/json` for base64. The simulator must answer in
 * the documented wire format, errors included.
 */
const KEY = 'sk-test-stability-conformance';

const simulator = useSimulator({ providers: [stabilitySimulation], keys: { stability: [KEY] } });

function post(path: string, fields: Record<string, string>, accept: string, key = KEY) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  return fetch(`${simulator.baseURL('stability')}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, accept },
    body: form,
  });
}

const json = async (response: Response) => (await response.json()) as Record<string, unknown>;

describe('simulated Stability, driven as its docs show', () => {
  it('answers image/* with the raw image and finish-reason and seed headers', async () => {
    const response = await post(
      '/v2beta/stable-image/generate/core',
      { prompt: 'Lighthouse on a cliff overlooking the ocean', output_format: 'webp' },
      'image/*',
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/webp');
    expect(response.headers.get('finish-reason')).toBe('SUCCESS');
    expect(Number(response.headers.get('seed'))).toBeGreaterThan(0);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(bytes.subarray(8, 12).toString()).toBe('WEBP');
  });

  it('answers application/json with base64, finish_reason and the seed it was given', async () => {
    const response = await post(
      '/v2beta/stable-image/generate/sd3',
      { prompt: 'a fox', model: 'sd3.5-large-turbo', seed: '1234', aspect_ratio: '9:21' },
      'application/json',
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; type=image/png');
    const body = await json(response);
    expect(body).toEqual({ image: expect.any(String), finish_reason: 'SUCCESS', seed: 1234 });
    expect(Buffer.from(String(body.image), 'base64').subarray(1, 4).toString()).toBe('PNG');
  });

  it('reports CONTENT_FILTERED in both response forms', async () => {
    const asJson = await json(
      await post('/v2beta/stable-image/generate/ultra', { prompt: 'simulate:filter' }, 'application/json'),
    );
    expect(asJson.finish_reason).toBe('CONTENT_FILTERED');
    const asImage = await post(
      '/v2beta/stable-image/generate/ultra',
      { prompt: 'simulate:filter' },
      'image/*',
    );
    expect(asImage.headers.get('finish-reason')).toBe('CONTENT_FILTERED');
  });

  it('refuses invalid fields with the v2beta envelope, one message per field', async () => {
    const response = await post(
      '/v2beta/stable-image/generate/sd3',
      { aspect_ratio: '4:3', output_format: 'webp', model: 'sd2' },
      'application/json',
    );
    expect(response.status).toBe(400);
    const body = await json(response);
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      name: 'bad_request',
      errors: expect.any(Array),
    });
    expect((body.errors as string[]).map((error) => error.split(':')[0])).toEqual([
      'prompt',
      'aspect_ratio',
      'output_format',
      'model',
    ]);
  });

  it('refuses a body that is not multipart', async () => {
    const response = await fetch(`${simulator.baseURL('stability')}/v2beta/stable-image/generate/core`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        accept: 'application/json',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ prompt: 'a fox' }),
    });
    expect(response.status).toBe(400);
    expect((await json(response)).name).toBe('bad_request');
  });

  it('refuses flagged prompts 403 content_moderation', async () => {
    const response = await post(
      '/v2beta/stable-image/generate/core',
      { prompt: 'simulate:moderation' },
      'image/*',
    );
    expect(response.status).toBe(403);
    expect(await json(response)).toEqual({
      id: expect.any(String),
      name: 'content_moderation',
      errors: [expect.stringContaining('flagged by our content moderation system')],
    });
  });

  it('serves the v1 account routes, and 401 in the v1 envelope', async () => {
    const get = (path: string, key?: string) =>
      fetch(`${simulator.baseURL('stability')}${path}`, {
        headers: key ? { authorization: `Bearer ${key}` } : {},
      });
    expect(await json(await get('/v1/user/balance', KEY))).toEqual({ credits: expect.any(Number) });
    expect(await json(await get('/v1/user/account', KEY))).toMatchObject({
      id: expect.any(String),
      email: expect.any(String),
      organizations: [{ id: expect.stringMatching(/^org-/), role: 'MEMBER', is_default: true }],
    });
    const missing = await get('/v1/user/balance');
    expect(missing.status).toBe(401);
    expect(await json(missing)).toEqual({
      id: expect.any(String),
      name: 'unauthorized',
      message: 'missing authorization header',
    });
  });

  it('answers rate limiting and exhausted credits as Stability does', async () => {
    simulator.addFault({ provider: 'stability', status: 429, count: 1 });
    const limited = await post('/v2beta/stable-image/generate/core', { prompt: 'a fox' }, 'image/*');
    expect(limited.status).toBe(429);
    expect(await json(limited)).toMatchObject({
      name: 'rate_limit_exceeded',
      errors: [expect.stringMatching(/150 requests within a 10 second period.*timed out for 60 seconds/)],
    });
    simulator.addFault({ provider: 'stability', status: 402, count: 1 });
    const broke = await post('/v2beta/stable-image/generate/core', { prompt: 'a fox' }, 'image/*');
    expect(broke.status).toBe(402);
    expect((await json(broke)).name).toBe('payment_required');
  });

  it('answers the retired image-to-video API with 404', async () => {
    const started = await post('/v2beta/image-to-video', { seed: '0' }, 'application/json');
    expect(started.status).toBe(404);
    expect(await json(started)).toMatchObject({
      name: 'not_found',
      errors: [expect.stringContaining('2025-07-24')],
    });
    const result = await fetch(`${simulator.baseURL('stability')}/v2beta/image-to-video/result/abc`, {
      headers: { authorization: `Bearer ${KEY}`, accept: 'video/*' },
    });
    expect(result.status).toBe(404);
  });
});
