import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { closedPort, upstreamFailure, useSimulator } from '../../../test/support/providers.ts';
import { SecretValue } from '../../crypto/index.ts';
import { MISTRAL_SIMULATOR_KEY, mistralSimulation } from '../../simulator/providers/mistral.ts';
import { builtInPrices, costOf } from '../prices/index.ts';
import type { Credentials, ProviderAdapter, TextRequest, TextStreamEvent } from '../spec.ts';
import type { UpstreamError } from '../upstream-error.ts';
import { mistralProvider } from './index.ts';

const simulator = useSimulator({ providers: [mistralSimulation] });

function adapter(
  credentials: () => Credentials = () => ({ apiKey: new SecretValue(MISTRAL_SIMULATOR_KEY) }),
  { baseURL = simulator.baseURL('mistral'), fetch: fetchImplementation = globalThis.fetch } = {},
): ProviderAdapter {
  return mistralProvider.createAdapter({ baseURL, fetch: fetchImplementation, credentials });
}

function text(model: ProviderAdapter) {
  if (!model.text) throw new Error('the Mistral adapter has no text model');
  return model.text;
}

const SAY_THIS: TextRequest = {
  model: 'mistral-small-latest',
  messages: [{ role: 'user', content: 'Say this is a test!' }],
};

const FULL_REPLY = 'Simulated reply from the Keyhaven provider simulator for your request about Say this is.';

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

describe('mistralProvider definition', () => {
  it("declares the SDK's server URL, one secret field, and priced and unpriced models", () => {
    expect(mistralProvider.defaultBaseURL).toBe('https://api.mistral.ai');
    expect(mistralProvider.credentialFields).toMatchObject([
      { name: 'apiKey', secret: true, optional: false },
    ]);
    const byId = new Map(mistralProvider.models.map((model) => [model.id, model]));
    expect(byId.get('mistral-small-latest')?.price).toEqual(builtInPrices.mistral?.['mistral-small-latest']);
    expect(byId.get('codestral-latest')).toEqual({ id: 'codestral-latest', kind: 'text' });
    expect(mistralProvider.capabilities).toEqual({
      text: { models: expect.arrayContaining(['mistral-large-latest']), streaming: true },
    });
  });
});

describe('validate', () => {
  it('is valid for an accepted key, asking GET /v1/models', async () => {
    expect(await adapter().validate()).toEqual({ status: 'valid' });
    expect(lastRequest()).toMatchObject({ method: 'GET', path: '/v1/models' });
  });

  it("is invalid for a wrong key, with Mistral's reason", async () => {
    const result = await adapter(() => ({ apiKey: new SecretValue('sk-test-mistral-wrong') })).validate();
    expect(result).toEqual({ status: 'invalid', reason: 'mistral: Unauthorized' });
  });

  it('is invalid when the organization has no credit left (402)', async () => {
    simulator.addFault({ provider: 'mistral', status: 429, quotaExhausted: true });
    const result = await adapter().validate();
    expect(result).toMatchObject({ status: 'invalid' });
    if (result.status === 'invalid') expect(result.reason).toContain('spending limit');
  });

  it('is unreachable on a closed port and on a server error', async () => {
    const port = await closedPort();
    expect(await adapter(undefined, { baseURL: `http://127.0.0.1:${port}` }).validate()).toMatchObject({
      status: 'unreachable',
    });
    simulator.addFault({ provider: 'mistral', status: 503 });
    expect(await adapter().validate()).toMatchObject({ status: 'unreachable' });
  });

  it('is rate limited with the announced wait', async () => {
    simulator.addFault({ provider: 'mistral', status: 429, retryAfterSeconds: 3 });
    expect(await adapter().validate()).toEqual({ status: 'rate_limited', retryAfterMs: 3000 });
  });

  it('is unreachable, quickly, when the connection stalls past the caller deadline', async () => {
    simulator.addFault({ provider: 'mistral', stall: true });
    const started = performance.now();
    expect(await adapter().validate({ signal: AbortSignal.timeout(150) })).toMatchObject({
      status: 'unreachable',
    });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('text.generate', () => {
  it('returns the reply with exact usage and sends max_tokens', async () => {
    const result = await text(adapter()).generate({ ...SAY_THIS, maxOutputTokens: 5, temperature: 0.3 });
    // "Say this is a test!" is 6 tokens, plus [INST] and [/INST], plus the begin-of-sequence token = 9.
    expect(result).toEqual({
      text: 'Simulated reply from the Keyhaven',
      model: 'mistral-small-latest',
      finishReason: 'length',
      usage: {
        inputTokens: 9,
        outputTokens: 5,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        videoSeconds: 0,
        images: 0,
      },
      warnings: [],
    });
    expect(JSON.parse(lastRequest().body)).toEqual({ ...SAY_THIS, max_tokens: 5, temperature: 0.3 });
    expect(lastRequest().path).toBe('/v1/chat/completions');
  });

  it('prices a call from its usage', async () => {
    const result = await text(adapter()).generate({
      model: 'mistral-small-latest',
      messages: [{ role: 'user', content: Array.from({ length: 1100 }, () => 'lorem').join(' ') }],
    });
    expect(result.usage).toMatchObject({ inputTokens: 1103, outputTokens: 15 });
    // mistral-small-latest: 0.10 in / 0.30 out USD per million tokens = micro-USD per token:
    // 1103 x 0.10 + 15 x 0.30 = 110.3 + 4.5 = 114.8 -> 115 micro-USD.
    const price = mistralProvider.models.find((model) => model.id === 'mistral-small-latest')?.price;
    expect(costOf(price, result.usage)).toBe(115);
  });

  it('reads the credential at each request, and sends it only in the Authorization header', async () => {
    const other = 'sk-test-mistral-rotated';
    simulator.addKey('mistral', other);
    let current = MISTRAL_SIMULATOR_KEY;
    const reads = vi.fn(() => ({ apiKey: new SecretValue(current) }));
    const model = adapter(reads);
    expect(reads).not.toHaveBeenCalled();
    await text(model).generate(SAY_THIS);
    expect(lastRequest().headers.authorization).toBe(`Bearer ${MISTRAL_SIMULATOR_KEY}`);
    current = other;
    await text(model).generate(SAY_THIS);
    expect(lastRequest().headers.authorization).toBe(`Bearer ${other}`);
    expect(reads).toHaveBeenCalledTimes(2);
    for (const request of simulator.requests) expect(request.path).not.toContain('sk-test');
  });
});

describe('text.stream', () => {
  it('streams the reply with the usage from the finishing chunk, without stream_options', async () => {
    const events = await collect(text(adapter()).stream(SAY_THIS));
    const deltas = events.filter((event) => event.type === 'text-delta');
    expect(deltas.map((event) => event.text).join('')).toBe(FULL_REPLY);
    expect(events.at(-1)).toMatchObject({
      type: 'finish',
      finishReason: 'stop',
      usage: { inputTokens: 9, outputTokens: 15 },
    });
    const body = JSON.parse(lastRequest().body) as Record<string, unknown>;
    expect(body.stream).toBe(true);
    expect(body).not.toHaveProperty('stream_options');
  });

  it('yields each chunk as it arrives from a slow stream', async () => {
    simulator.addFault({ provider: 'mistral', chunkDelayMs: 25 });
    const events = await collect(text(adapter()).stream(SAY_THIS));
    const first = events.find((event) => event.type === 'text-delta');
    expect(events.at(-1)).toMatchObject({ type: 'finish', usage: { outputTokens: 15 } });
    expect((events.at(-1)?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThan(300);
  });

  it('throws the error sent in the middle of the stream', async () => {
    simulator.addFault({ provider: 'mistral', midStreamErrorAfterChunks: 3 });
    const seen: string[] = [];
    const error = await upstreamFailure(
      (async () => {
        for await (const event of text(adapter()).stream(SAY_THIS)) {
          if (event.type === 'text-delta') seen.push(event.text);
        }
      })(),
    );
    expect(seen).toEqual(['Simulated', ' reply']);
    expect(error).toMatchObject({
      kind: 'server_error',
      retryable: true,
      message: 'mistral: Internal server error',
    });
  });

  it('fails quickly when the connection stalls past the caller deadline', async () => {
    simulator.addFault({ provider: 'mistral', stall: true });
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
    { fault: { status: 401 as const }, kind: 'authentication', status: 401, retryable: false },
    { fault: { status: 403 as const }, kind: 'permission', status: 403, retryable: false },
    {
      fault: { status: 429 as const, retryAfterSeconds: 2 },
      kind: 'rate_limited',
      status: 429,
      retryable: true,
      code: '1300',
      retryAfterMs: 2000,
    },
    {
      fault: { status: 429 as const, quotaExhausted: true },
      kind: 'quota_exhausted',
      status: 402,
      retryable: false,
    },
    {
      fault: { status: 500 as const },
      kind: 'server_error',
      status: 500,
      retryable: true,
      code: 'server_error',
    },
    { fault: { status: 503 as const }, kind: 'overloaded', status: 503, retryable: true },
  ];

  for (const { fault, kind, status, retryable, code, retryAfterMs } of cases) {
    it(`maps ${fault.status}${'quotaExhausted' in fault ? ' (quota)' : ''} to ${kind}`, async () => {
      simulator.addFault({ provider: 'mistral', ...fault });
      const error = await upstreamFailure(text(adapter()).generate(SAY_THIS));
      expect(error).toMatchObject({ provider: 'mistral', kind, retryable, status });
      expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      if (code !== undefined) expect(error.providerCode).toBe(code);
      if (retryAfterMs !== undefined) expect(error.retryAfterMs).toBe(retryAfterMs);
    });
  }

  it('maps an unknown model to bad_request with its message and code', async () => {
    const error = await upstreamFailure(text(adapter()).generate({ ...SAY_THIS, model: 'mistral-unknown' }));
    expect(error).toMatchObject({ kind: 'bad_request', status: 400, providerCode: '1500' });
    expect(error.message).toBe('mistral: Invalid model: mistral-unknown');
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
      const credentials = () => ({ apiKey: new SecretValue(canary) });
      const model = adapter(credentials);
      results.push(await model.validate());
      errors.push(await upstreamFailure(text(model).generate(SAY_THIS)));
      errors.push(await upstreamFailure(collect(text(model).stream(SAY_THIS))));
      simulator.addKey('mistral', canary);
      for (const fault of [
        { status: 429 as const, retryAfterSeconds: 1 },
        { status: 429 as const, quotaExhausted: true },
        { status: 500 as const },
      ]) {
        simulator.addFault({ provider: 'mistral', count: 1, ...fault });
        errors.push(await upstreamFailure(text(model).generate(SAY_THIS)));
      }
      simulator.addFault({ provider: 'mistral', count: 1, midStreamErrorAfterChunks: 2 });
      errors.push(await upstreamFailure(collect(text(model).stream(SAY_THIS))));
      const port = await closedPort();
      errors.push(
        await upstreamFailure(
          text(adapter(credentials, { baseURL: `http://127.0.0.1:${port}` })).generate(SAY_THIS),
        ),
      );
      for (const error of errors) console.error(error);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(errors).toHaveLength(7);
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
