import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  capturingConsole,
  closedPort,
  collect,
  errorViews,
  upstreamFailure,
  useSimulator,
} from '../../../test/support/providers.ts';
import { SecretValue } from '../../crypto/index.ts';
import { ANTHROPIC_SIMULATOR_KEY, anthropicSimulation } from '../../simulator/providers/anthropic.ts';
import { builtInCredentialSpecs } from '../credentials.ts';
import { builtInPrices, costOf } from '../prices/index.ts';
import { createProviderRegistry } from '../registry.ts';
import type { Credentials, ProviderAdapter, TextRequest, Usage } from '../spec.ts';
import { normaliseAnthropicUsage } from './anthropic-usage.ts';
import { anthropicProvider } from './index.ts';

const canary = `sk-test-CANARY-${randomBytes(12).toString('hex')}`;

const simulator = useSimulator({ providers: [anthropicSimulation] });

function adapterFor(
  key = ANTHROPIC_SIMULATOR_KEY,
  baseURL = simulator.baseURL('anthropic'),
): ProviderAdapter {
  return anthropicProvider.createAdapter({
    baseURL,
    fetch: globalThis.fetch,
    credentials: () => ({ apiKey: new SecretValue(key) }),
  });
}

function textModel(adapter: ProviderAdapter) {
  if (!adapter.text) throw new Error('the anthropic adapter has no text model');
  return adapter.text;
}

const lastBody = () => JSON.parse(simulator.requests.at(-1)?.body ?? '{}') as Record<string, unknown>;

/** "Hello there friend" is 3 tokens, "You are terse." 4; the reply echoes the prompt in 15 tokens. */
const request: TextRequest = {
  model: 'claude-haiku-4-5',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Hello there friend' },
  ],
  maxOutputTokens: 50,
};
const expectedText =
  'Simulated reply from the Keyhaven provider simulator for your request about Hello there friend.';
const expectedUsage: Usage = {
  inputTokens: 7,
  outputTokens: 15,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  videoSeconds: 0,
  images: 0,
};

describe('anthropic provider definition', () => {
  it('declares the built-in credential, the SDK base URL and prices from the price table', () => {
    expect(anthropicProvider.id).toBe('anthropic');
    expect(anthropicProvider.defaultBaseURL).toBe('https://api.anthropic.com');
    expect(anthropicProvider.credential).toBe(
      builtInCredentialSpecs.find((spec) => spec.provider === 'anthropic'),
    );
    expect(anthropicProvider.icon).toMatch(/^<svg[\s\S]*<\/svg>$/);
    const haiku = anthropicProvider.models.find((model) => model.id === 'claude-haiku-4-5');
    expect(haiku?.price).toEqual(builtInPrices.anthropic?.['claude-haiku-4-5']);
    // Not in the price table: listed, but unpriced rather than free.
    expect(anthropicProvider.models.find((model) => model.id === 'claude-opus-4-8')?.price).toBeUndefined();
    expect(anthropicProvider.capabilities.text?.streaming).toBe(true);
  });
  it('plugs into the registry, whose base URL override points it at the simulator', async () => {
    const registry = createProviderRegistry({
      providers: [anthropicProvider],
      env: { KEYHAVEN_ANTHROPIC_BASE_URL: simulator.baseURL('anthropic') },
    });
    await expect(
      registry.adapterFromCredentials('anthropic', { apiKey: ANTHROPIC_SIMULATOR_KEY }).validate(),
    ).resolves.toEqual({
      status: 'valid',
    });
    expect(() => registry.adapterFromCredentials('anthropic', { apiKey: ' ' })).toThrow(
      /apiKey must not be empty/,
    );
  });
});

describe('anthropic validate', () => {
  it('is valid for an accepted key, with one cheap authenticated call', async () => {
    await expect(adapterFor().validate()).resolves.toEqual({ status: 'valid' });
    const [sent] = simulator.requests;
    expect(sent?.method).toBe('GET');
    expect(sent?.path).toBe('/v1/models?limit=1');
    expect(sent?.headers['x-api-key']).toBe(ANTHROPIC_SIMULATOR_KEY);
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
  });

  it("is invalid for a refused key, with Anthropic's reason", async () => {
    const result = await adapterFor('sk-test-not-a-real-key').validate();
    expect(result).toEqual({ status: 'invalid', reason: 'anthropic: invalid x-api-key' });
  });

  it('is unreachable when nothing listens', async () => {
    const result = await adapterFor(
      ANTHROPIC_SIMULATOR_KEY,
      `http://127.0.0.1:${await closedPort()}`,
    ).validate();
    expect(result.status).toBe('unreachable');
  });

  it('is rate limited with the wait Anthropic announces', async () => {
    simulator.addFault({ provider: 'anthropic', status: 429, retryAfterSeconds: 7, count: 1 });
    await expect(adapterFor().validate()).resolves.toEqual({ status: 'rate_limited', retryAfterMs: 7000 });
  });

  it('is unreachable when Anthropic is overloaded (the key may be fine)', async () => {
    simulator.addFault({ provider: 'anthropic', status: 529, count: 1 });
    const result = await adapterFor().validate();
    expect(result).toEqual({ status: 'unreachable', reason: 'anthropic: Overloaded' });
  });
});

describe('anthropic text.generate', () => {
  it('sends system messages in the top-level system field and reports exact usage', async () => {
    const result = await textModel(adapterFor()).generate(request);
    expect(result).toEqual({
      text: expectedText,
      model: 'claude-haiku-4-5',
      finishReason: 'stop',
      usage: expectedUsage,
      warnings: [],
    });
    expect(lastBody()).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 50,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'Hello there friend' }],
    });
  });

  it('defaults max_tokens, clamps temperature, and says so in warnings', async () => {
    const result = await textModel(adapterFor()).generate({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 1.5,
    });
    expect(lastBody()).toMatchObject({ max_tokens: 4096, temperature: 1 });
    expect(result.warnings).toEqual([
      'maxOutputTokens was not set; Anthropic requires max_tokens, so 4096 was sent',
      "temperature 1.5 is outside Anthropic's 0..1 range; 1 was sent",
    ]);
  });

  it('honours maxOutputTokens and reports the cut as length', async () => {
    const result = await textModel(adapterFor()).generate({ ...request, maxOutputTokens: 5 });
    expect(result.text).toBe('Simulated reply from the Keyhaven');
    expect(result.finishReason).toBe('length');
    expect(result.usage.outputTokens).toBe(5);
  });
});

describe('anthropic text.stream', () => {
  it('yields the text as deltas and the usage in the finish event', async () => {
    const events = await collect(textModel(adapterFor()).stream(request));
    const text = events.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
    expect(text).toBe(expectedText);
    expect(events.filter((event) => event.type === 'text-delta')).toHaveLength(15);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      finishReason: 'stop',
      usage: expectedUsage,
      warnings: [],
    });
    expect(lastBody()).toMatchObject({ stream: true, max_tokens: 50 });
  });

  it('delivers deltas as they arrive on a slow stream', async () => {
    simulator.addFault({ provider: 'anthropic', chunkDelayMs: 25 });
    const arrivals: { type: string; at: number }[] = [];
    let usage: Usage | undefined;
    for await (const event of textModel(adapterFor()).stream(request)) {
      arrivals.push({ type: event.type, at: performance.now() });
      if (event.type === 'finish') usage = event.usage;
    }
    expect(usage).toEqual(expectedUsage);
    const first = arrivals.find((arrival) => arrival.type === 'text-delta');
    const finish = arrivals.at(-1);
    // 21 frames 25 ms apart: the first delta must come long before the end, not after buffering.
    expect((finish?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThan(250);
  });

  it('throws an overloaded UpstreamError from the iterator on a mid-stream error event', async () => {
    simulator.addFault({ provider: 'anthropic', midStreamErrorAfterChunks: 5, count: 1 });
    const received: string[] = [];
    const error = await upstreamFailure(
      (async () => {
        for await (const event of textModel(adapterFor()).stream(request)) {
          if (event.type === 'text-delta') received.push(event.text);
        }
      })(),
    );
    // message_start, content_block_start, ping, then two deltas before the error frame.
    expect(received).toEqual(['Simulated', ' reply']);
    expect(error.kind).toBe('overloaded');
    expect(error.retryable).toBe(true);
    expect(error.providerCode).toBe('overloaded_error');
    expect(error.message).toBe('anthropic: Overloaded');
  });

  it('takes input from message_start and output from the last message_delta (recorded stream)', async () => {
    // The recorded fixture from the SDK's tests: message_delta carries only output_tokens.
    const recorded = [
      'event: message_start',
      'data: {"type":"message_start","message":{"id":"msg_4QpJ","type":"message","role":"assistant","content":[],"model":"claude-opus-4-8","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}',
      '',
      'event: content_block_start',
      'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
      '',
      'event: ping',
      'data: {"type": "ping"}',
      '',
      'event: content_block_delta',
      'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
      '',
      'event: content_block_stop',
      'data: {"type":"content_block_stop","index":0}',
      '',
      'event: message_delta',
      'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}',
      '',
      'event: message_delta',
      'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}',
      '',
      'event: message_stop',
      'data: {"type":"message_stop"}',
      '',
      '',
    ].join('\n');
    const adapter = anthropicProvider.createAdapter({
      baseURL: 'http://recorded.invalid',
      fetch: async () => new Response(recorded, { headers: { 'content-type': 'text/event-stream' } }),
      credentials: () => ({ apiKey: new SecretValue(ANTHROPIC_SIMULATOR_KEY) }),
    });
    const events = await collect(textModel(adapter).stream(request));
    expect(events.at(-1)).toMatchObject({ type: 'finish', usage: { inputTokens: 11, outputTokens: 6 } });
    // The same stream cut before message_stop is a failure, not a finish with partial usage.
    const truncated = anthropicProvider.createAdapter({
      baseURL: 'http://recorded.invalid',
      fetch: async () =>
        new Response(recorded.split('event: message_stop')[0], {
          headers: { 'content-type': 'text/event-stream' },
        }),
      credentials: () => ({ apiKey: new SecretValue(ANTHROPIC_SIMULATOR_KEY) }),
    });
    const error = await upstreamFailure(collect(textModel(truncated).stream(request)));
    expect(error).toMatchObject({
      kind: 'server_error',
      message: 'anthropic: the stream ended before message_stop',
    });
  });
});

describe('anthropic error mapping', () => {
  const cases = [
    {
      fault: { status: 401 },
      kind: 'authentication',
      status: 401,
      code: 'authentication_error',
      retryable: false,
    },
    { fault: { status: 403 }, kind: 'permission', status: 403, code: 'permission_error', retryable: false },
    { fault: { status: 404 }, kind: 'not_found', status: 404, code: 'not_found_error', retryable: false },
    { fault: { status: 402 }, kind: 'quota_exhausted', status: 402, code: 'billing_error', retryable: false },
    {
      fault: { status: 429, quotaExhausted: true },
      kind: 'quota_exhausted',
      status: 400,
      code: 'invalid_request_error',
      retryable: false,
    },
    { fault: { status: 500 }, kind: 'server_error', status: 500, code: 'api_error', retryable: true },
    { fault: { status: 503 }, kind: 'server_error', status: 503, code: 'api_error', retryable: true },
    { fault: { status: 504 }, kind: 'timeout', status: 504, code: 'timeout_error', retryable: true },
    { fault: { status: 529 }, kind: 'overloaded', status: 529, code: 'overloaded_error', retryable: true },
  ] as const;

  it.each(cases)(
    'maps an injected $fault.status to $kind',
    async ({ fault, kind, status, code, retryable }) => {
      simulator.addFault({ provider: 'anthropic', ...fault, count: 1 });
      const error = await upstreamFailure(textModel(adapterFor()).generate(request));
      expect(error).toMatchObject({ provider: 'anthropic', kind, status, providerCode: code, retryable });
      expect(error.requestId).toMatch(/^req_/);
    },
  );

  it('maps a 429 to rate_limited with the wait from retry-after', async () => {
    simulator.addFault({ provider: 'anthropic', status: 429, retryAfterSeconds: 3, count: 1 });
    const error = await upstreamFailure(textModel(adapterFor()).generate(request));
    expect(error).toMatchObject({ kind: 'rate_limited', status: 429, retryable: true, retryAfterMs: 3000 });
    expect(error.providerCode).toBe('rate_limit_error');
  });

  it('takes the wait from the RFC 3339 reset header when retry-after is absent', async () => {
    const reset = new Date(Date.now() + 42_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const adapter = anthropicProvider.createAdapter({
      baseURL: 'http://recorded.invalid',
      fetch: async () =>
        new Response(
          '{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_011CRecorded"}',
          {
            status: 429,
            headers: { 'content-type': 'application/json', 'anthropic-ratelimit-tokens-reset': reset },
          },
        ),
      credentials: () => ({ apiKey: new SecretValue(ANTHROPIC_SIMULATOR_KEY) }),
    });
    const error = await upstreamFailure(textModel(adapter).generate(request));
    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterMs).toBeGreaterThan(39_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(42_000);
  });

  it('maps an unknown model to not_found and a malformed request to bad_request', async () => {
    const missing = await upstreamFailure(
      textModel(adapterFor()).generate({ ...request, model: 'claude-nonexistent' }),
    );
    expect(missing).toMatchObject({
      kind: 'not_found',
      status: 404,
      message: 'anthropic: model: claude-nonexistent',
    });
    const malformed = await upstreamFailure(textModel(adapterFor()).generate({ ...request, messages: [] }));
    expect(malformed).toMatchObject({
      kind: 'bad_request',
      status: 400,
      providerCode: 'invalid_request_error',
    });
  });

  it('fails fast on a stalled connection when the caller gives a timeout', async () => {
    simulator.addFault({ provider: 'anthropic', stall: true });
    const started = performance.now();
    const error = await textModel(adapterFor())
      .generate({ ...request, signal: AbortSignal.timeout(150) })
      .catch((caught: unknown) => caught);
    expect(performance.now() - started).toBeLessThan(2000);
    expect((error as Error).name).toBe('TimeoutError');
    const streamed = await collect(
      textModel(adapterFor()).stream({ ...request, signal: AbortSignal.timeout(150) }),
    ).catch((caught: unknown) => caught);
    expect((streamed as Error).name).toBe('TimeoutError');
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('anthropic secrets', () => {
  it('never shows the key in errors, inspect output, logs or URLs, whatever fails', async () => {
    const errors: unknown[] = [];
    const capture = (promise: Promise<unknown>) => promise.catch((error: unknown) => errors.push(error));
    const printed = await capturingConsole(async () => {
      const refused = adapterFor(canary);
      await capture(textModel(refused).generate(request));
      expect(await refused.validate()).toMatchObject({ status: 'invalid' });
      simulator.addKey('anthropic', canary);
      const accepted = adapterFor(canary);
      for (const status of [403, 429, 500, 529] as const) {
        simulator.addFault({ provider: 'anthropic', status, retryAfterSeconds: 1, count: 1 });
        await capture(textModel(accepted).generate(request));
      }
      simulator.addFault({ provider: 'anthropic', midStreamErrorAfterChunks: 4, count: 1 });
      await capture(collect(textModel(accepted).stream(request)));
      simulator.addFault({ provider: 'anthropic', stall: true, count: 1 });
      await capture(textModel(accepted).generate({ ...request, signal: AbortSignal.timeout(100) }));
      await capture(
        textModel(adapterFor(canary, `http://127.0.0.1:${await closedPort()}`)).generate(request),
      );
    });
    expect(errors).toHaveLength(8);
    const seen = simulator.requests.filter((sent) => sent.headers['x-api-key'] === canary);
    expect(seen.length).toBeGreaterThan(5); // the key did travel, in its header
    const haystacks = [
      ...errors.flatMap(errorViews),
      ...printed,
      ...simulator.requests.map((sent) => sent.path),
    ];
    for (const haystack of haystacks) expect(haystack).not.toContain(canary);
  });
});

describe('anthropic credentials', () => {
  it('reads the credential when each request is made, never when the adapter is built', async () => {
    let reads = 0;
    let key = ANTHROPIC_SIMULATOR_KEY;
    const adapter = anthropicProvider.createAdapter({
      baseURL: simulator.baseURL('anthropic'),
      fetch: globalThis.fetch,
      credentials: async (): Promise<Credentials> => {
        reads += 1;
        return { apiKey: new SecretValue(key) };
      },
    });
    expect(reads).toBe(0);
    const stream = textModel(adapter).stream(request);
    expect(reads).toBe(0);
    await collect(stream);
    expect(reads).toBe(1);
    key = 'sk-test-rotated-key';
    simulator.addKey('anthropic', key);
    await textModel(adapter).generate(request);
    expect(reads).toBe(2);
    expect(simulator.requests.at(-1)?.headers['x-api-key']).toBe('sk-test-rotated-key');
  });
});

describe('anthropic cost', () => {
  it('prices claude-haiku-4-5 with cache reads, cache writes and thinking', () => {
    // The usage of a recorded message_delta (fixture from the SDK's tests), with caching and thinking.
    const usage = normaliseAnthropicUsage({
      input_tokens: 31,
      cache_creation_input_tokens: 2048,
      cache_read_input_tokens: 10_000,
      output_tokens: 547,
      output_tokens_details: { thinking_tokens: 120 },
    });
    expect(usage).toMatchObject({
      inputTokens: 31,
      cacheWriteTokens: 2048,
      cacheReadTokens: 10_000,
      outputTokens: 547,
      reasoningTokens: 120,
    });
    // Haiku 4.5: $1 in, $5 out, $0.10 cache read, $1.25 cache write per million tokens (= micro-USD per token).
    // 31 x 1 + 547 x 5 + 10,000 x 0.10 + 2,048 x 1.25 = 31 + 2,735 + 1,000 + 2,560 = 6,326 micro-USD.
    // Thinking tokens are inside the 547 output tokens, so they are not billed twice.
    const price = anthropicProvider.models.find((model) => model.id === 'claude-haiku-4-5')?.price;
    expect(costOf(price, usage)).toBe(6326);
  });
});
