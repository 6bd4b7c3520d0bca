import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../server.ts';
import { MISTRAL_SIMULATOR_KEY, mistralSimulation } from './mistral.ts';

/** The wire itself: what a client that is not the SDK would read. */
let simulator: Simulator;
let base: string;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [mistralSimulation] });
  base = simulator.baseURL('mistral');
});
afterEach(() => simulator.reset());
afterAll(async () => {
  await simulator.close();
});

const authorized = { authorization: `Bearer ${MISTRAL_SIMULATOR_KEY}`, 'content-type': 'application/json' };
const request = {
  model: 'mistral-small-latest',
  messages: [{ role: 'user', content: 'Say this is a test!' }],
};

function chat(body: unknown, headers: Record<string, string> = authorized) {
  return fetch(`${base}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(body) });
}

describe('mistral simulation', () => {
  it('serves its real paths under the prefix, with no /v1 in the SDK server URL', () => {
    expect(base).toBe(`${simulator.url}/mistral`);
  });

  it('refuses a missing or unknown key with the bare detail', async () => {
    for (const headers of [
      { 'content-type': 'application/json' },
      { ...authorized, authorization: 'Bearer nope' },
    ]) {
      const response = await chat(request, headers);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ detail: 'Unauthorized' });
    }
  });

  it('streams data lines with usage on the finishing chunk, then [DONE]', async () => {
    const response = await chat({ ...request, stream: true, max_tokens: 2 });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const frames = (await response.text()).split('\n\n').filter(Boolean);
    for (const frame of frames) expect(frame.startsWith('data: ')).toBe(true);
    expect(frames.at(-1)).toBe('data: [DONE]');
    const chunks = frames.slice(0, -1).map((frame) => JSON.parse(frame.slice(6)) as Record<string, unknown>);
    expect(chunks).toHaveLength(4);
    expect(chunks.at(-1)).toMatchObject({
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta: { content: '' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
    });
    for (const chunk of chunks.slice(0, -1)) expect(chunk).not.toHaveProperty('usage');
  });

  it('sends its rate-limit headers, and a 429 in its own envelope', async () => {
    const ok = await chat(request);
    expect(ok.headers.get('x-ratelimit-remaining-req-minute')).toBe('719');
    expect(ok.headers.get('mistral-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    simulator.addFault({ provider: 'mistral', status: 429, retryAfterSeconds: 4 });
    const limited = await chat(request);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('4');
    expect(await limited.json()).toEqual({
      object: 'error',
      message: 'Rate limit exceeded',
      type: 'rate_limited',
      param: null,
      code: '1300',
    });
  });

  it('answers exhausted credit with 402, and validation failures with 422', async () => {
    simulator.addFault({ provider: 'mistral', status: 429, quotaExhausted: true, count: 1 });
    expect((await chat(request)).status).toBe(402);
    const invalid = await chat({ model: 'mistral-small-latest' });
    expect(invalid.status).toBe(422);
    expect(await invalid.json()).toMatchObject({
      detail: [{ loc: ['body', 'messages'], msg: 'Field required' }],
    });
  });
});
