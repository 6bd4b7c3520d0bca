import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../server.ts';
import { ANTHROPIC_SIMULATOR_KEY, anthropicSimulation } from './anthropic.ts';

/** The simulated Anthropic API at the wire: headers, error bodies, named SSE events, caching, thinking. */
let simulator: Simulator;
let base: string;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [anthropicSimulation] });
  base = simulator.baseURL('anthropic');
});
afterAll(async () => {
  await simulator.close();
});
afterEach(() => {
  simulator.reset();
});

const headers = {
  'content-type': 'application/json',
  'x-api-key': ANTHROPIC_SIMULATOR_KEY,
  'anthropic-version': '2023-06-01',
};

function post(path: string, payload: unknown, extra: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { ...headers, ...extra },
    body: JSON.stringify(payload),
  });
}

const hello = {
  model: 'claude-haiku-4-5',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'Hello there friend' }],
};

function events(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((frame) => {
      const [eventLine = '', dataLine = ''] = frame.split('\n');
      return {
        event: eventLine.replace(/^event: /, ''),
        data: JSON.parse(dataLine.replace(/^data: /, '')) as Record<string, unknown>,
      };
    });
}

describe('anthropic simulator', () => {
  it('refuses a missing or unknown key with the 401 body Anthropic sends', async () => {
    const missing = await fetch(`${base}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' } });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error', message: 'x-api-key header is required' },
    });
    const wrong = await fetch(`${base}/v1/models`, { headers: { ...headers, 'x-api-key': 'sk-test-wrong' } });
    const body = (await wrong.json()) as { request_id: string };
    expect(body).toMatchObject({
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
    });
    expect(wrong.headers.get('request-id')).toBe(body.request_id);
  });

  it('requires the anthropic-version header', async () => {
    const response = await fetch(`${base}/v1/models`, { headers: { 'x-api-key': ANTHROPIC_SIMULATOR_KEY } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { message: 'anthropic-version: header is required' },
    });
  });

  it('pages models with limit and after_id, and sends rate-limit headers in RFC 3339', async () => {
    const response = await fetch(`${base}/v1/models?limit=2&after_id=claude-opus-4-8`, { headers });
    expect(await response.json()).toMatchObject({
      data: [{ id: 'claude-opus-4-7', type: 'model' }, { id: 'claude-opus-4-6' }],
      has_more: true,
      first_id: 'claude-opus-4-7',
      last_id: 'claude-opus-4-6',
    });
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('1000');
    expect(response.headers.get('anthropic-ratelimit-requests-reset')).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    expect(response.headers.get('request-id')).toMatch(/^req_/);
  });

  it('answers a 429 with retry-after and an exhausted request budget', async () => {
    simulator.addFault({ provider: 'anthropic', status: 429, retryAfterSeconds: 5, count: 1 });
    const response = await post('/v1/messages', hello);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
  });

  it('streams the named events in order, with a ping, cumulative usage and no [DONE]', async () => {
    const response = await post('/v1/messages', { ...hello, stream: true });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const text = await response.text();
    expect(text).not.toContain('[DONE]');
    const frames = events(text);
    const names = frames.map((frame) => frame.event);
    expect(names.slice(0, 3)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(names.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(names.filter((name) => name === 'content_block_delta')).toHaveLength(15);
    for (const frame of frames) expect(frame.data.type).toBe(frame.event);
    expect(frames[0]?.data).toMatchObject({ message: { usage: { input_tokens: 3, output_tokens: 1 } } });
    expect(frames.at(-2)?.data).toMatchObject({
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { input_tokens: 3, output_tokens: 15 },
    });
  });

  it('writes a cache_control prefix once, then reads it, from 1024 tokens', async () => {
    const longSystem = Array.from({ length: 1100 }, () => 'policy').join(' ');
    const cached = {
      ...hello,
      system: [{ type: 'text', text: longSystem, cache_control: { type: 'ephemeral' } }],
    };
    const first = (await (await post('/v1/messages', cached)).json()) as { usage: Record<string, unknown> };
    expect(first.usage).toMatchObject({
      input_tokens: 3,
      cache_creation_input_tokens: 1100,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 1100, ephemeral_1h_input_tokens: 0 },
    });
    const second = (await (await post('/v1/messages', cached)).json()) as { usage: Record<string, unknown> };
    expect(second.usage).toMatchObject({
      input_tokens: 3,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 1100,
    });
    const short = {
      ...hello,
      system: [{ type: 'text', text: 'Brief.', cache_control: { type: 'ephemeral' } }],
    };
    const uncached = (await (await post('/v1/messages', short)).json()) as { usage: Record<string, unknown> };
    expect(uncached.usage).toMatchObject({ input_tokens: 5, cache_creation_input_tokens: 0 });
  });

  it('thinks when asked: a thinking block first, its tokens inside output_tokens', async () => {
    const response = await post('/v1/messages', {
      ...hello,
      max_tokens: 4096,
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
    const message = (await response.json()) as {
      content: { type: string }[];
      usage: { output_tokens: number; output_tokens_details: { thinking_tokens: number } };
    };
    expect(message.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    expect(message.usage.output_tokens).toBe(message.usage.output_tokens_details.thinking_tokens + 15);
    // max_tokens (100) must exceed the thinking budget.
    const refused = await post('/v1/messages', {
      ...hello,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
    expect(refused.status).toBe(400);
  });

  it('counts tokens and refuses an unknown model with not_found_error', async () => {
    const counted = await post('/v1/messages/count_tokens', { model: hello.model, messages: hello.messages });
    expect(await counted.json()).toEqual({ input_tokens: 3 });
    const unknown = await post('/v1/messages', { ...hello, model: 'claude-9' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: { type: 'not_found_error', message: 'model: claude-9' },
    });
    const noMaxTokens = await post('/v1/messages', { model: hello.model, messages: hello.messages });
    expect(await noMaxTokens.json()).toMatchObject({ error: { message: 'max_tokens: Field required' } });
  });
});
