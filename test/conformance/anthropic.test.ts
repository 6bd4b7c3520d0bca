import {
  Anthropic,
  APIError,
  AuthenticationError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  PaymentRequiredError,
  PermissionDeniedError,
  RateLimitError,
} from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ANTHROPIC_SIMULATOR_KEY, anthropicSimulation } from '../../src/simulator/providers/anthropic.ts';
import { type Simulator, startSimulator } from '../../src/simulator/server.ts';
import { rejection } from '../support/providers.ts';

/**
 * Conformance: the official Anthropic SDK, as a real client, against the simulator. Everything the SDK
 * parses here (pages, messages, stream events, the stream helper's final message, error classes) is
 * what our adapter and the gateway's users will see from the real API.
 */
let simulator: Simulator;
let client: Anthropic;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [anthropicSimulation] });
  client = clientWith(ANTHROPIC_SIMULATOR_KEY);
});
afterAll(async () => {
  await simulator.close();
});
afterEach(() => {
  simulator.reset();
});

function clientWith(apiKey: string): Anthropic {
  return new Anthropic({ apiKey, baseURL: simulator.baseURL('anthropic'), maxRetries: 0 });
}

const hello = {
  model: 'claude-haiku-4-5',
  max_tokens: 100,
  system: 'You are terse.',
  messages: [{ role: 'user' as const, content: 'Hello there friend' }],
};
const reply =
  'Simulated reply from the Keyhaven provider simulator for your request about Hello there friend.';

describe('@anthropic-ai/sdk against the simulator', () => {
  it('lists models page by page, following after_id', async () => {
    const page = await client.models.list({ limit: 3 });
    expect(page.data.map((model) => model.id)).toEqual([
      'claude-opus-4-8',
      'claude-opus-4-7',
      'claude-opus-4-6',
    ]);
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const model of client.models.list({ limit: 3 })) all.push(model.id);
    expect(all).toHaveLength(8);
    expect(all).toContain('claude-haiku-4-5');
    const haiku = await client.models.retrieve('claude-haiku-4-5');
    expect(haiku).toMatchObject({ id: 'claude-haiku-4-5', type: 'model', display_name: 'Claude Haiku 4.5' });
    // The 1.x SDK sends the key as a bearer token with API version 2026-10-21 (0.x: x-api-key, 2023-06-01).
    expect(simulator.requests[0]?.headers.authorization).toBe(`Bearer ${ANTHROPIC_SIMULATOR_KEY}`);
    expect(simulator.requests[0]?.headers['anthropic-version']).toBe('2026-10-21');
  });

  it('creates a message, with usage and the request id', async () => {
    const message = await client.messages.create(hello);
    expect(message.type).toBe('message');
    expect(message.content).toEqual([{ type: 'text', text: reply }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({
      input_tokens: 7,
      output_tokens: 15,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      service_tier: 'standard',
    });
    expect(message._request_id).toMatch(/^req_/);
    const counted = await client.messages.countTokens({
      model: hello.model,
      system: hello.system,
      messages: hello.messages,
    });
    expect(counted.input_tokens).toBe(7);
  });

  it('streams raw events in the order the SDK expects', async () => {
    const stream = await client.messages.create({ ...hello, stream: true });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    expect(types[0]).toBe('message_start');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(types).not.toContain('ping'); // the SDK drops pings: proof they were framed as it expects
    expect(text).toBe(reply);
  });

  it('accumulates a stream with the helper, whose finalMessage shows the usage', async () => {
    const deltas: string[] = [];
    const stream = client.messages.stream(hello).on('text', (delta) => deltas.push(delta));
    const message = await stream.finalMessage();
    expect(deltas.join('')).toBe(reply);
    expect(message.content).toEqual([{ type: 'text', text: reply }]);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage).toMatchObject({ input_tokens: 7, output_tokens: 15 });
  });

  it('reports prompt-cache writes, then reads, through the SDK', async () => {
    const system = [
      {
        type: 'text' as const,
        text: Array.from({ length: 1200 }, () => 'guideline').join(' '),
        cache_control: { type: 'ephemeral' as const, ttl: '1h' as const },
      },
    ];
    const first = await client.messages.create({ ...hello, system });
    expect(first.usage).toMatchObject({
      input_tokens: 3,
      cache_creation_input_tokens: 1200,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_1h_input_tokens: 1200, ephemeral_5m_input_tokens: 0 },
    });
    const second = await client.messages.stream({ ...hello, system }).finalMessage();
    expect(second.usage).toMatchObject({
      input_tokens: 3,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 1200,
    });
  });

  it('streams extended thinking: a signed thinking block, then the text', async () => {
    const stream = client.messages.stream({
      ...hello,
      max_tokens: 4096,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
    const message = await stream.finalMessage();
    expect(message.content.map((block) => block.type)).toEqual(['thinking', 'text']);
    const thinking = message.content[0];
    expect(thinking?.type === 'thinking' && thinking.signature.length).toBeGreaterThan(0);
    const thinkingTokens = message.usage.output_tokens_details?.thinking_tokens ?? 0;
    expect(thinkingTokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBe(15 + thinkingTokens);
  });
});

describe('@anthropic-ai/sdk error classes from the simulator', () => {
  it('throws AuthenticationError for an unknown key', async () => {
    const error = await rejection(clientWith('sk-test-unknown').models.list());
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({
      status: 401,
      type: 'authentication_error',
      apiMessage: 'invalid x-api-key',
    });
    expect((error as APIError).requestID).toMatch(/^req_/);
  });

  it.each([
    [403, PermissionDeniedError, 'permission_error'],
    [402, PaymentRequiredError, 'billing_error'],
    [404, NotFoundError, 'not_found_error'],
    [500, InternalServerError, 'api_error'],
  ] as const)('throws the class for an injected %i', async (status, errorClass, type) => {
    simulator.addFault({ provider: 'anthropic', status, count: 1 });
    const error = await rejection(client.messages.create(hello));
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toMatchObject({ status, type });
  });

  it('throws RateLimitError with the retry-after header for a 429', async () => {
    simulator.addFault({ provider: 'anthropic', status: 429, retryAfterSeconds: 12, count: 1 });
    const error = await rejection(client.messages.create(hello));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).headers.get('retry-after')).toBe('12');
    expect((error as RateLimitError).type).toBe('rate_limit_error');
  });

  it('throws an APIError with status 529 (OverloadedError) when overloaded', async () => {
    simulator.addFault({ provider: 'anthropic', status: 529, count: 1 });
    const error = await rejection(client.messages.create(hello));
    expect(error).toBeInstanceOf(APIError);
    expect(error).toBeInstanceOf(OverloadedError);
    expect(error).toMatchObject({ status: 529, type: 'overloaded_error', apiMessage: 'Overloaded' });
  });

  it('throws the mid-stream error event from the stream', async () => {
    simulator.addFault({ provider: 'anthropic', midStreamErrorAfterChunks: 5, count: 1 });
    const stream = await client.messages.create({ ...hello, stream: true });
    const seen: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const event of stream) seen.push(event.type);
      })(),
    );
    expect(seen).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
    ]);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: undefined, type: 'overloaded_error', apiMessage: 'Overloaded' });
    simulator.addFault({ provider: 'anthropic', midStreamErrorAfterChunks: 3, count: 1 });
    const helper = await rejection(client.messages.stream(hello).finalMessage());
    expect(helper).toMatchObject({ type: 'overloaded_error' });
  });
});
