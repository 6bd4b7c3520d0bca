import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../server.ts';
import { OPENAI_SIMULATOR_KEY, openaiSimulation } from './openai.ts';

/** The wire itself, byte for byte where it matters: what a client that is not an SDK would read. */
let simulator: Simulator;
let base: string;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [openaiSimulation] });
  base = simulator.baseURL('openai');
});
afterEach(() => simulator.reset());
afterAll(async () => {
  await simulator.close();
});

const authorized = { authorization: `Bearer ${OPENAI_SIMULATOR_KEY}`, 'content-type': 'application/json' };

function chat(body: unknown, headers: Record<string, string> = authorized) {
  return fetch(`${base}/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });
}

function dataLines(text: string): string[] {
  const frames = text.split('\n\n').filter(Boolean);
  for (const frame of frames) expect(frame.startsWith('data: ')).toBe(true);
  return frames.map((frame) => frame.slice('data: '.length));
}

const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say this is a test!' }] };

describe('openai simulation', () => {
  it('refuses a missing key with the message OpenAI sends, and an unknown key with invalid_api_key', async () => {
    const missing = await chat(request, { 'content-type': 'application/json' });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      error: { message: expect.stringMatching(/^You didn't provide an API key/), code: null },
    });
    const wrong = await chat(request, { ...authorized, authorization: 'Bearer sk-test-not-a-real-key-0000' });
    expect(await wrong.json()).toEqual({
      error: {
        message:
          'Incorrect API key provided: sk-test-***0000. You can find your API key at https://platform.openai.com/account/api-keys.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    });
  });

  it('frames a stream as OpenAI does: usage null on every chunk, a usage chunk with no choices, then [DONE]', async () => {
    const response = await chat({ ...request, stream: true, stream_options: { include_usage: true } });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    const lines = dataLines(await response.text());
    expect(lines.at(-1)).toBe('[DONE]');
    const chunks = lines.slice(0, -1).map((line) => JSON.parse(line) as Record<string, unknown>);
    const usageChunk = chunks.at(-1);
    expect(usageChunk).toMatchObject({
      object: 'chat.completion.chunk',
      choices: [],
      usage: { prompt_tokens: 13, completion_tokens: 15, total_tokens: 28 },
    });
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull();
    expect(chunks[0]).toMatchObject({ choices: [{ delta: { role: 'assistant', content: '' } }] });
    expect(chunks.at(-2)).toMatchObject({ choices: [{ delta: {}, finish_reason: 'stop' }] });
  });

  it('sends no usage at all in a stream without include_usage', async () => {
    const lines = dataLines(await (await chat({ ...request, stream: true })).text());
    const chunks = lines.slice(0, -1).map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const chunk of chunks) expect(chunk).not.toHaveProperty('usage');
    expect(chunks.at(-1)).toMatchObject({ choices: [{ finish_reason: 'stop' }] });
  });

  it('ends a faulted stream with an error frame and no [DONE]', async () => {
    simulator.addFault({ provider: 'openai', midStreamErrorAfterChunks: 1 });
    const lines = dataLines(await (await chat({ ...request, stream: true })).text());
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1] ?? '')).toMatchObject({ error: { type: 'server_error' } });
  });

  it('sends rate-limit headers on success and on a 429', async () => {
    const ok = await chat(request);
    expect(ok.headers.get('x-ratelimit-remaining-tokens')).toBe(String(2_000_000 - 13));
    simulator.addFault({ provider: 'openai', status: 429, retryAfterSeconds: 7 });
    const limited = await chat(request);
    expect(limited.status).toBe(429);
    expect(Object.fromEntries(limited.headers)).toMatchObject({
      'retry-after': '7',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '7s',
    });
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limit_exceeded', type: 'requests' } });
  });

  it('refuses what the real API refuses: max_tokens on a reasoning model, no model, an unknown route', async () => {
    const reasoning = await chat({ ...request, model: 'gpt-5', max_tokens: 10 });
    expect(reasoning.status).toBe(400);
    expect(await reasoning.json()).toMatchObject({
      error: { code: 'unsupported_parameter', param: 'max_tokens' },
    });
    const noModel = await chat({ messages: request.messages });
    expect(await noModel.json()).toMatchObject({ error: { message: 'you must provide a model parameter' } });
    const unknown = await fetch(`${base}/assistants-v9`, { headers: authorized });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { message: 'Invalid URL (/v1/assistants-v9)' } });
  });

  it('answers the shut-down Videos API as a deprecated model', async () => {
    const form = new FormData();
    form.set('prompt', 'A cat');
    form.set('model', 'sora-2-pro');
    const response = await fetch(`${base}/videos`, {
      method: 'POST',
      headers: { authorization: authorized.authorization },
      body: form,
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: {
        message:
          'The model `sora-2-pro` has been deprecated, learn more here: https://platform.openai.com/docs/deprecations',
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      },
    });
  });
});
