import { ApiError, GoogleGenAI } from '@google/genai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GOOGLE_GEMINI_SIMULATOR_KEY,
  googleGeminiSimulation,
} from '../../src/simulator/providers/google-gemini.ts';
import { type Simulator, startSimulator } from '../../src/simulator/server.ts';

/**
 * Conformance: the official @google/genai SDK, as a real client, against the simulator: model pages,
 * generateContent, the SSE stream with usage in the last chunk, and errors as ApiError with the status.
 */
let simulator: Simulator;
let client: GoogleGenAI;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [googleGeminiSimulation] });
  client = clientWith(GOOGLE_GEMINI_SIMULATOR_KEY);
});
afterAll(async () => {
  await simulator.close();
});
afterEach(() => {
  simulator.reset();
});

function clientWith(apiKey: string): GoogleGenAI {
  return new GoogleGenAI({ apiKey, httpOptions: { baseUrl: simulator.baseURL('google-gemini') } });
}

const hello = {
  model: 'gemini-2.5-flash',
  contents: 'Hello there friend',
  config: { systemInstruction: 'You are terse.', maxOutputTokens: 50 },
};
const reply =
  'Simulated reply from the Keyhaven provider simulator for your request about Hello there friend.';

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error;
}

describe('@google/genai against the simulator', () => {
  it('lists models across pages and gets one', async () => {
    const names: string[] = [];
    const pager = await client.models.list({ config: { pageSize: 2 } });
    for await (const model of pager) names.push(model.name ?? '');
    expect(names).toEqual([
      'models/gemini-2.5-pro',
      'models/gemini-2.5-flash',
      'models/gemini-2.5-flash-lite',
      'models/gemini-2.0-flash',
    ]);
    const flash = await client.models.get({ model: 'gemini-2.5-flash' });
    expect(flash).toMatchObject({
      name: 'models/gemini-2.5-flash',
      displayName: 'Gemini 2.5 Flash',
      thinking: true,
    });
    const sent = simulator.requests[0];
    expect(sent?.headers['x-goog-api-key']).toBe(GOOGLE_GEMINI_SIMULATOR_KEY);
    // @google/genai 3.x defaults to API version v1 (2.x and our adapter use v1beta): the simulator serves both.
    expect(sent?.path).toMatch(/^\/v1\/models\?/);
    expect(sent?.path).not.toContain('key=');
  });

  it('generates content, with the usage metadata', async () => {
    const response = await client.models.generateContent(hello);
    expect(response.text).toBe(reply);
    expect(response.candidates?.[0]?.finishReason).toBe('STOP');
    expect(response.modelVersion).toBe('gemini-2.5-flash');
    expect(response.usageMetadata).toMatchObject({
      promptTokenCount: 7,
      candidatesTokenCount: 15,
      thoughtsTokenCount: 20,
      totalTokenCount: 42,
    });
    expect(JSON.parse(simulator.requests.at(-1)?.body ?? '{}')).toMatchObject({
      systemInstruction: { parts: [{ text: 'You are terse.' }] },
      generationConfig: { maxOutputTokens: 50 },
    });
    const counted = await client.models.countTokens({
      model: 'gemini-2.5-flash',
      contents: 'Hello there friend',
    });
    expect(counted.totalTokens).toBe(3);
  });

  it('streams content over SSE, with the final usage and finishReason in the last chunk', async () => {
    const stream = await client.models.generateContentStream(hello);
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.text).join('')).toBe(reply);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.at(-1)?.candidates?.[0]?.finishReason).toBe('STOP');
    expect(chunks.at(-1)?.usageMetadata).toMatchObject({
      promptTokenCount: 7,
      candidatesTokenCount: 15,
      thoughtsTokenCount: 20,
    });
    expect(simulator.requests.at(-1)?.path).toBe('/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('speaks v1beta too, as the 2.x SDK and our adapter do', async () => {
    const beta = new GoogleGenAI({
      apiKey: GOOGLE_GEMINI_SIMULATOR_KEY,
      httpOptions: { baseUrl: simulator.baseURL('google-gemini'), apiVersion: 'v1beta' },
    });
    const texts: string[] = [];
    for await (const chunk of await beta.models.generateContentStream(hello)) texts.push(chunk.text ?? '');
    expect(texts.join('')).toBe(reply);
    expect(simulator.requests.at(-1)?.path).toBe(
      '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    );
  });

  it('returns thought summaries as thought parts, outside response.text', async () => {
    const response = await client.models.generateContent({
      ...hello,
      config: { ...hello.config, thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } },
    });
    const parts = response.candidates?.[0]?.content?.parts ?? [];
    expect(parts.map((part) => Boolean(part.thought))).toEqual([true, false]);
    expect(response.text).toBe(reply);
  });

  it('reports implicitly cached prompt tokens', async () => {
    const systemInstruction = Array.from({ length: 1050 }, () => 'rule').join(' ');
    await client.models.generateContent({ ...hello, config: { systemInstruction } });
    const second = await client.models.generateContent({
      ...hello,
      contents: 'Another question',
      config: { systemInstruction },
    });
    expect(second.usageMetadata).toMatchObject({ promptTokenCount: 1052, cachedContentTokenCount: 1050 });
  });
});

describe('@google/genai errors from the simulator', () => {
  it('throws ApiError 400 with API_KEY_INVALID for an unknown key', async () => {
    const error = await apiError(clientWith('test-gemini-unknown').models.generateContent(hello));
    expect(error.status).toBe(400);
    expect(JSON.parse(error.message)).toMatchObject({
      error: { code: 400, status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }, {}] },
    });
  });

  it.each([
    [403, 403, 'PERMISSION_DENIED'],
    [429, 429, 'RESOURCE_EXHAUSTED'],
    [500, 500, 'INTERNAL'],
    [503, 503, 'UNAVAILABLE'],
  ] as const)('throws ApiError with the status for an injected %i', async (fault, status, code) => {
    simulator.addFault({ provider: 'google-gemini', status: fault, retryAfterSeconds: 30, count: 1 });
    const error = await apiError(client.models.generateContent(hello));
    expect(error.status).toBe(status);
    expect(JSON.parse(error.message)).toMatchObject({ error: { code: status, status: code } });
  });

  it('carries the RetryInfo delay of a 429 to the SDK user', async () => {
    simulator.addFault({ provider: 'google-gemini', status: 429, retryAfterSeconds: 37.2, count: 1 });
    const error = await apiError(client.models.generateContent(hello));
    expect(error.message).toContain('"retryDelay":"37.2s"');
  });

  it('throws ApiError for an error on the stream URL, and for an error chunk mid-stream', async () => {
    const missing = await apiError(client.models.generateContentStream({ ...hello, model: 'gemini-9' }));
    expect(missing.status).toBe(404);
    simulator.addFault({ provider: 'google-gemini', midStreamErrorAfterChunks: 2, count: 1 });
    const texts: string[] = [];
    const midStream = await apiError(
      (async () => {
        for await (const chunk of await client.models.generateContentStream(hello))
          texts.push(chunk.text ?? '');
      })(),
    );
    expect(texts).toEqual(['Simulated reply from the', ' Keyhaven provider simulator for']);
    expect(midStream.status).toBe(503);
    expect(midStream.message).toContain('UNAVAILABLE');
  });
});
