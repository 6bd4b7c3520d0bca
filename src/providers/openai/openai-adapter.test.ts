import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { closedPort, upstreamFailure, useSimulator } from '../../../test/support/providers.ts';
import { SecretValue } from '../../crypto/index.ts';
import { OPENAI_SIMULATOR_KEY, openaiSimulation } from '../../simulator/providers/openai.ts';
import { builtInPrices, costOf } from '../prices/index.ts';
import type { Credentials, ProviderAdapter, TextRequest, TextStreamEvent } from '../spec.ts';
import type { UpstreamError } from '../upstream-error.ts';
import { openaiProvider } from './index.ts';

const simulator = useSimulator({ providers: [openaiSimulation] });

function adapter(
  credentials: () => Credentials = () => ({ apiKey: new SecretValue(OPENAI_SIMULATOR_KEY) }),
  { baseURL = simulator.baseURL('openai'), fetch: fetchImplementation = globalThis.fetch } = {},
): ProviderAdapter {
  return openaiProvider.createAdapter({ baseURL, fetch: fetchImplementation, credentials });
}

function text(model: ProviderAdapter) {
  if (!model.text) throw new Error('the OpenAI adapter has no text model');
  return model.text;
}

const SAY_THIS: TextRequest = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say this is a test!' }],
};

async function collect(events: AsyncIterable<TextStreamEvent>) {
  const seen: (TextStreamEvent & { at: number })[] = [];
  for await (const event of events) seen.push({ ...event, at: performance.now() });
  return seen;
}

function lastRequest() {
  const request = simulator.requests.at(-1);
  if (!request) throw new Error('the simulator saw no request');
  return request;
}

describe('openaiProvider definition', () => {
  it('declares the SDK base URL, its credential fields, priced and unpriced models, and Sora as retired', () => {
    expect(openaiProvider.defaultBaseURL).toBe('https://api.openai.com/v1');
    expect(
      openaiProvider.credentialFields.map((field) => [field.name, field.secret, field.optional]),
    ).toEqual([
      ['apiKey', true, false],
      ['organization', false, true],
      ['project', false, true],
    ]);
    const byId = new Map(openaiProvider.models.map((model) => [model.id, model]));
    expect(byId.get('gpt-4o-mini')?.price).toEqual(builtInPrices.openai?.['gpt-4o-mini']);
    expect(byId.get('o4-mini')).toEqual({ id: 'o4-mini', kind: 'text' });
    expect(openaiProvider.capabilities.video?.status).toMatchObject({ state: 'retired', date: '2026-09-24' });
    expect(openaiProvider.capabilities.text?.streaming).toBe(true);
  });
});

describe('validate', () => {
  it('is valid for an accepted key', async () => {
    expect(await adapter().validate()).toEqual({ status: 'valid' });
    expect(lastRequest()).toMatchObject({ method: 'GET', path: '/v1/models' });
  });

  it("is invalid for a wrong key, with OpenAI's reason and without the key", async () => {
    const key = `sk-test-wrong-${randomBytes(8).toString('hex')}`;
    const result = await adapter(() => ({ apiKey: new SecretValue(key) })).validate();
    expect(result).toMatchObject({ status: 'invalid' });
    if (result.status !== 'invalid') return;
    expect(result.reason).toContain('Incorrect API key provided');
    expect(result.reason).not.toContain(key);
  });

  it('is invalid when the account has no quota left, saying so', async () => {
    simulator.addFault({ provider: 'openai', status: 429, quotaExhausted: true });
    const result = await adapter().validate();
    expect(result).toMatchObject({ status: 'invalid' });
    if (result.status === 'invalid') expect(result.reason).toContain('exceeded your current quota');
  });

  it('is invalid for a key without permission (403)', async () => {
    simulator.addFault({ provider: 'openai', status: 403 });
    expect(await adapter().validate()).toMatchObject({ status: 'invalid' });
  });

  it('is unreachable on a closed port and on a server error', async () => {
    const port = await closedPort();
    expect(await adapter(undefined, { baseURL: `http://127.0.0.1:${port}/v1` }).validate()).toMatchObject({
      status: 'unreachable',
    });
    simulator.addFault({ provider: 'openai', status: 500 });
    expect(await adapter().validate()).toMatchObject({ status: 'unreachable' });
  });

  it('is rate limited with the announced wait', async () => {
    simulator.addFault({ provider: 'openai', status: 429, retryAfterSeconds: 3 });
    expect(await adapter().validate()).toEqual({ status: 'rate_limited', retryAfterMs: 3000 });
  });

  it('is unreachable, quickly, when the connection stalls past the caller deadline', async () => {
    simulator.addFault({ provider: 'openai', stall: true });
    const started = performance.now();
    const result = await adapter().validate({ signal: AbortSignal.timeout(150) });
    expect(result).toMatchObject({ status: 'unreachable' });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('text.generate', () => {
  it('returns the reply with exact usage and sends max_completion_tokens', async () => {
    const result = await text(adapter()).generate({ ...SAY_THIS, maxOutputTokens: 5 });
    // "Say this is a test!" is 6 tokens; 3 per message + 1 for the role + 3 priming the reply = 13.
    expect(result).toEqual({
      text: 'Simulated reply from the Keyhaven',
      model: 'gpt-4o-mini',
      finishReason: 'length',
      usage: {
        inputTokens: 13,
        outputTokens: 5,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        videoSeconds: 0,
        images: 0,
      },
      warnings: [],
    });
    const body = JSON.parse(lastRequest().body) as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'gpt-4o-mini', max_completion_tokens: 5 });
    expect(body).not.toHaveProperty('max_tokens');
  });

  it('counts cached prompt tokens once: input excludes what was read from cache', async () => {
    const long: TextRequest = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: Array.from({ length: 1100 }, () => 'lorem').join(' ') }],
    };
    // 1100 words + 3 + 1 (role) + 3 = 1107 prompt tokens; the second call reads 8 x 128 = 1024 from cache.
    const first = await text(adapter()).generate(long);
    expect(first.usage).toMatchObject({ inputTokens: 1107, cacheReadTokens: 0 });
    const second = await text(adapter()).generate(long);
    expect(second.usage).toMatchObject({ inputTokens: 83, cacheReadTokens: 1024, outputTokens: 15 });

    // gpt-4o-mini: 0.15 / 0.075 (cache read) / 0.60 USD per million tokens = micro-USD per token:
    // 83 x 0.15 + 1024 x 0.075 + 15 x 0.60 = 12.45 + 76.8 + 9 = 98.25 -> 98 micro-USD.
    const price = openaiProvider.models.find((model) => model.id === 'gpt-4o-mini')?.price;
    expect(costOf(price, second.usage)).toBe(98);
  });

  it('reports reasoning tokens as part of the output, and warns instead of sending an unsupported temperature', async () => {
    const result = await text(adapter()).generate({
      ...SAY_THIS,
      model: 'gpt-5-mini',
      temperature: 0.2,
      maxOutputTokens: 100,
    });
    // 64 reasoning tokens + the 15-word visible reply = 79 completion tokens, of which 64 reasoning.
    expect(result.usage).toMatchObject({ inputTokens: 13, outputTokens: 79, reasoningTokens: 64 });
    expect(result.text).toBe(
      'Simulated reply from the Keyhaven provider simulator for your request about Say this is.',
    );
    expect(result.warnings).toEqual(['temperature is not supported by gpt-5-mini and was not sent']);
    expect(JSON.parse(lastRequest().body)).not.toHaveProperty('temperature');
  });

  it('sends the organization and project headers only when they are set, and the key only in a header', async () => {
    await text(
      adapter(() => ({
        apiKey: new SecretValue(OPENAI_SIMULATOR_KEY),
        organization: new SecretValue('org-test-keyhaven'),
        project: new SecretValue('proj_test_keyhaven'),
      })),
    ).generate(SAY_THIS);
    expect(lastRequest().headers).toMatchObject({
      authorization: `Bearer ${OPENAI_SIMULATOR_KEY}`,
      'openai-organization': 'org-test-keyhaven',
      'openai-project': 'proj_test_keyhaven',
    });
    await text(adapter()).generate(SAY_THIS);
    expect(lastRequest().headers).not.toHaveProperty('openai-organization');
    expect(lastRequest().headers).not.toHaveProperty('openai-project');
    for (const request of simulator.requests) expect(request.path).not.toContain(OPENAI_SIMULATOR_KEY);
  });

  it('reads the credential at each request, not when the adapter is built', async () => {
    const other = 'sk-test-openai-rotated-key';
    simulator.addKey('openai', other);
    let current = OPENAI_SIMULATOR_KEY;
    const reads = vi.fn(() => ({ apiKey: new SecretValue(current) }));
    const model = adapter(reads);
    expect(reads).not.toHaveBeenCalled();
    await text(model).generate(SAY_THIS);
    expect(lastRequest().headers.authorization).toBe(`Bearer ${OPENAI_SIMULATOR_KEY}`);
    current = other;
    await text(model).generate(SAY_THIS);
    expect(lastRequest().headers.authorization).toBe(`Bearer ${other}`);
    expect(await model.validate()).toEqual({ status: 'valid' });
    expect(reads).toHaveBeenCalledTimes(3);
  });
});

describe('text.stream', () => {
  it('streams the reply and the usage from the include_usage chunk', async () => {
    const events = await collect(text(adapter()).stream({ ...SAY_THIS, maxOutputTokens: 5 }));
    const deltas = events.filter((event) => event.type === 'text-delta');
    expect(deltas.map((event) => event.text).join('')).toBe('Simulated reply from the Keyhaven');
    expect(deltas).toHaveLength(5);
    expect(events.at(-1)).toMatchObject({
      type: 'finish',
      finishReason: 'length',
      usage: { inputTokens: 13, outputTokens: 5, cacheReadTokens: 0, reasoningTokens: 0 },
    });
    expect(JSON.parse(lastRequest().body)).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('yields each chunk as it arrives from a slow stream', async () => {
    simulator.addFault({ provider: 'openai', chunkDelayMs: 25 });
    const events = await collect(text(adapter()).stream(SAY_THIS));
    const first = events.find((event) => event.type === 'text-delta');
    const finish = events.at(-1);
    expect(finish).toMatchObject({ type: 'finish', finishReason: 'stop', usage: { outputTokens: 15 } });
    // 15 words, a finishing chunk, the usage chunk and [DONE] follow the first word, 25 ms apart.
    expect((finish?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThan(300);
  });

  it('carries warnings on the finish event', async () => {
    const events = await collect(text(adapter()).stream({ ...SAY_THIS, model: 'o4-mini', temperature: 0 }));
    expect(events.at(-1)).toMatchObject({
      type: 'finish',
      warnings: ['temperature is not supported by o4-mini and was not sent'],
      usage: { reasoningTokens: 64 },
    });
  });

  it('throws the error sent in the middle of the stream, after the chunks before it', async () => {
    simulator.addFault({ provider: 'openai', midStreamErrorAfterChunks: 3 });
    const seen: string[] = [];
    const error = await upstreamFailure(
      (async () => {
        for await (const event of text(adapter()).stream(SAY_THIS)) {
          if (event.type === 'text-delta') seen.push(event.text);
        }
      })(),
    );
    expect(seen).toEqual(['Simulated', ' reply']);
    expect(error).toMatchObject({ kind: 'server_error', retryable: true, providerCode: 'server_error' });
    expect(error.message).toContain('The server had an error while processing your request');
  });

  it('fails quickly when the connection stalls past the caller deadline', async () => {
    simulator.addFault({ provider: 'openai', stall: true });
    const started = performance.now();
    const error = await collect(
      text(adapter()).stream({ ...SAY_THIS, signal: AbortSignal.timeout(150) }),
    ).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'TimeoutError' });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('error mapping', () => {
  const cases = [
    { fault: { status: 401 as const }, kind: 'authentication', retryable: false, code: 'invalid_api_key' },
    {
      fault: { status: 403 as const },
      kind: 'permission',
      retryable: false,
      code: 'unsupported_country_region_territory',
    },
    {
      fault: { status: 429 as const, retryAfterSeconds: 2 },
      kind: 'rate_limited',
      retryable: true,
      code: 'rate_limit_exceeded',
      retryAfterMs: 2000,
    },
    {
      fault: { status: 429 as const, quotaExhausted: true },
      kind: 'quota_exhausted',
      retryable: false,
      code: 'insufficient_quota',
    },
    { fault: { status: 500 as const }, kind: 'server_error', retryable: true, code: 'server_error' },
    { fault: { status: 503 as const }, kind: 'overloaded', retryable: true, code: 'server_error' },
  ];

  for (const { fault, kind, retryable, code, retryAfterMs } of cases) {
    it(`maps ${fault.status}${'quotaExhausted' in fault ? ' (quota)' : ''} to ${kind}`, async () => {
      simulator.addFault({ provider: 'openai', ...fault });
      const error = await upstreamFailure(text(adapter()).generate(SAY_THIS));
      expect(error).toMatchObject({
        provider: 'openai',
        kind,
        retryable,
        status: fault.status,
        providerCode: code,
      });
      expect(error.requestId).toMatch(/^req_/);
      if (retryAfterMs !== undefined) expect(error.retryAfterMs).toBe(retryAfterMs);
    });
  }

  it('takes the wait from the reset header when there is no retry-after', async () => {
    simulator.addFault({ provider: 'openai', status: 429 });
    const error = await upstreamFailure(text(adapter()).generate(SAY_THIS));
    expect(error).toMatchObject({ kind: 'rate_limited', retryAfterMs: 644 });
  });

  it('maps an unknown model to not_found, with the code', async () => {
    const error = await upstreamFailure(text(adapter()).generate({ ...SAY_THIS, model: 'gpt-unknown' }));
    expect(error).toMatchObject({ kind: 'not_found', status: 404, providerCode: 'model_not_found' });
    expect(error.message).toContain('The model `gpt-unknown` does not exist');
  });

  it('maps the same errors when a stream is refused before it starts', async () => {
    simulator.addFault({ provider: 'openai', status: 429, quotaExhausted: true });
    const error = await upstreamFailure(collect(text(adapter()).stream(SAY_THIS)));
    expect(error).toMatchObject({ kind: 'quota_exhausted', retryable: false });
  });
});

describe('video (Sora)', () => {
  it('is retired: start and status fail with capability_retired and the date, without a network call', async () => {
    const fetchSpy = vi.fn(globalThis.fetch);
    const model = adapter(undefined, { fetch: fetchSpy });
    if (!model.video) throw new Error('the OpenAI adapter should declare its retired video model');
    const started = await upstreamFailure(
      model.video.start({ prompt: 'A cat on a skateboard', model: 'sora-2' }),
    );
    const status = await upstreamFailure(model.video.status('video_abc123'));
    for (const error of [started, status]) {
      expect(error).toMatchObject({ kind: 'capability_retired', retryable: false });
      expect(error.message).toContain('2026-09-24');
    }
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(simulator.requests).toHaveLength(0);
  });
});

describe('secrets', () => {
  it('never lets the key appear in an error, its JSON, its inspection or the console', async () => {
    const canary = `sk-test-CANARY-${randomBytes(12).toString('hex')}`;
    const written: string[] = [];
    const spies = [
      ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((method) =>
        vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
          written.push(args.map((arg) => inspect(arg)).join(' '));
        }),
      ),
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }),
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }),
    ];
    const errors: unknown[] = [];
    const results: unknown[] = [];
    try {
      const credentials = () => ({
        apiKey: new SecretValue(canary),
        organization: new SecretValue('org-test-canary'),
      });
      const model = adapter(credentials);
      // Refused as an unknown key: OpenAI echoes a masked form of it.
      results.push(await model.validate());
      errors.push(await upstreamFailure(text(model).generate(SAY_THIS)));
      errors.push(await upstreamFailure(collect(text(model).stream(SAY_THIS))));
      // Accepted, then failing every way a call can fail.
      simulator.addKey('openai', canary);
      for (const fault of [
        { status: 401 as const },
        { status: 429 as const, retryAfterSeconds: 1 },
        { status: 429 as const, quotaExhausted: true },
        { status: 500 as const },
      ]) {
        simulator.addFault({ provider: 'openai', count: 1, ...fault });
        errors.push(await upstreamFailure(text(model).generate(SAY_THIS)));
      }
      simulator.addFault({ provider: 'openai', count: 1, midStreamErrorAfterChunks: 2 });
      errors.push(await upstreamFailure(collect(text(model).stream(SAY_THIS))));
      errors.push(await upstreamFailure(model.video?.start({ prompt: 'x' }) ?? Promise.resolve()));
      const port = await closedPort();
      errors.push(
        await upstreamFailure(
          text(adapter(credentials, { baseURL: `http://127.0.0.1:${port}/v1` })).generate(SAY_THIS),
        ),
      );
      for (const error of errors) console.error(error);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(errors).toHaveLength(9);
    const surfaces = [
      ...errors.flatMap((error) => {
        const upstream = error as UpstreamError;
        return [
          upstream.message,
          upstream.stack ?? '',
          upstream.body ?? '',
          JSON.stringify(upstream),
          String(upstream),
          inspect(upstream, { depth: 10, showHidden: true }),
        ];
      }),
      JSON.stringify(results),
      ...written,
    ];
    expect(written.length).toBeGreaterThan(0);
    for (const surface of surfaces) expect(surface).not.toContain(canary);
    expect(simulator.requests.some((request) => request.headers.authorization === `Bearer ${canary}`)).toBe(
      true,
    );
  });
});
