import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../server.ts';
import { GOOGLE_GEMINI_SIMULATOR_KEY, googleGeminiSimulation } from './google-gemini.ts';

/** The simulated Gemini API at the wire: paths, key placement, error bodies and SSE framing. */
let simulator: Simulator;
let base: string;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [googleGeminiSimulation] });
  base = simulator.baseURL('google-gemini');
});
afterAll(async () => {
  await simulator.close();
});
afterEach(() => {
  simulator.reset();
});

const body = { contents: [{ role: 'user', parts: [{ text: 'Hello there friend' }] }] };

function post(path: string, payload: unknown = body, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-goog-api-key': GOOGLE_GEMINI_SIMULATOR_KEY,
      ...headers,
    },
    body: JSON.stringify(payload),
  });
}

describe('gemini simulator routes and keys', () => {
  it('matches `:model:method` inside one path segment, on v1beta and v1', async () => {
    for (const path of [
      '/v1beta/models/gemini-2.5-flash:generateContent',
      '/v1/models/gemini-2.5-flash:generateContent',
    ]) {
      const response = await post(path);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ modelVersion: 'gemini-2.5-flash' });
    }
    const counted = await post('/v1beta/models/gemini-2.0-flash:countTokens');
    expect(await counted.json()).toEqual({
      totalTokens: 3,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 3 }],
    });
  });

  it('takes the key from `?key=` as older clients send it', async () => {
    const response = await fetch(`${base}/v1beta/models?key=${GOOGLE_GEMINI_SIMULATOR_KEY}`);
    expect(response.status).toBe(200);
  });

  it('refuses a missing key with 403 PERMISSION_DENIED and a wrong one with 400 API_KEY_INVALID', async () => {
    const missing = await fetch(`${base}/v1beta/models`);
    expect(missing.status).toBe(403);
    expect(await missing.json()).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    const wrong = await fetch(`${base}/v1beta/models`, {
      headers: { 'x-goog-api-key': 'test-gemini-wrong' },
    });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
          {
            '@type': 'type.googleapis.com/google.rpc.LocalizedMessage',
            locale: 'en-US',
            message: 'API key not valid. Please pass a valid API key.',
          },
        ],
      },
    });
  });

  it('pages the model list with pageSize and nextPageToken', async () => {
    const headers = { 'x-goog-api-key': GOOGLE_GEMINI_SIMULATOR_KEY };
    const first = (await (await fetch(`${base}/v1beta/models?pageSize=3`, { headers })).json()) as {
      models: { name: string }[];
      nextPageToken?: string;
    };
    expect(first.models.map((model) => model.name)).toEqual([
      'models/gemini-2.5-pro',
      'models/gemini-2.5-flash',
      'models/gemini-2.5-flash-lite',
    ]);
    const second = (await (
      await fetch(`${base}/v1beta/models?pageSize=3&pageToken=${first.nextPageToken ?? ''}`, { headers })
    ).json()) as { models: { name: string }[]; nextPageToken?: string };
    expect(second.models.map((model) => model.name)).toEqual(['models/gemini-2.0-flash']);
    expect(second.nextPageToken).toBeUndefined();
  });

  it('answers the 429 of the reference: QuotaFailure, Help and RetryInfo', async () => {
    simulator.addFault({ provider: 'google-gemini', status: 429, retryAfterSeconds: 37.2, count: 1 });
    const response = await post('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(response.status).toBe(429);
    const error = ((await response.json()) as { error: { status: string; details: { '@type': string }[] } })
      .error;
    expect(error.status).toBe('RESOURCE_EXHAUSTED');
    expect(error.details.map((detail) => detail['@type'])).toEqual([
      'type.googleapis.com/google.rpc.QuotaFailure',
      'type.googleapis.com/google.rpc.Help',
      'type.googleapis.com/google.rpc.RetryInfo',
    ]);
    expect(error.details[2]).toMatchObject({ retryDelay: '37.2s' });
  });

  it('refuses a thinking budget of 0 on a model that only thinks, as Gemini 2.5 Pro does', async () => {
    const response = await post('/v1beta/models/gemini-2.5-pro:generateContent', {
      ...body,
      generationConfig: { thinkingConfig: { thinkingBudget: 0 } },
    });
    expect(response.status).toBe(400);
  });
});

describe('gemini simulator streams', () => {
  it('sends data-only SSE events with running usage, finishReason only in the last, and no [DONE]', async () => {
    const response = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const text = await response.text();
    expect(text).not.toContain('[DONE]');
    expect(text).not.toMatch(/^event:/m);
    const chunks = text
      .split('\r\n\r\n')
      .filter(Boolean)
      .map(
        (event) =>
          JSON.parse(event.replace(/^data: /, '')) as {
            candidates: { finishReason?: string }[];
            usageMetadata: {
              candidatesTokenCount: number;
              thoughtsTokenCount: number;
              totalTokenCount: number;
            };
          },
      );
    expect(chunks).toHaveLength(4);
    expect(chunks.map((chunk) => chunk.usageMetadata.candidatesTokenCount)).toEqual([4, 8, 12, 15]);
    expect(chunks.map((chunk) => chunk.candidates[0]?.finishReason)).toEqual([
      undefined,
      undefined,
      undefined,
      'STOP',
    ]);
    expect(chunks.at(-1)?.usageMetadata).toMatchObject({
      thoughtsTokenCount: 20,
      totalTokenCount: 3 + 15 + 20,
    });
  });

  it('streams one JSON array without alt=sse', async () => {
    const response = await post('/v1beta/models/gemini-2.0-flash:streamGenerateContent');
    const chunks = (await response.json()) as unknown[];
    expect(chunks).toHaveLength(4);
  });

  it('answers errors on a stream URL with a plain JSON body labelled text/event-stream', async () => {
    const response = await post('/v1beta/models/gemini-9:streamGenerateContent?alt=sse');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(await response.json()).toMatchObject({ error: { code: 404, status: 'NOT_FOUND' } });
  });

  it('ends a faulted stream with an error chunk', async () => {
    simulator.addFault({ provider: 'google-gemini', midStreamErrorAfterChunks: 1, count: 1 });
    const text = await (await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse')).text();
    const events = text.split('\r\n\r\n').filter(Boolean);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1]?.replace(/^data: /, '') ?? '{}')).toMatchObject({
      error: { code: 503, status: 'UNAVAILABLE' },
    });
  });
});
