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
import type { Fault } from '../../simulator/faults.ts';
import {
  GOOGLE_GEMINI_SIMULATOR_KEY,
  googleGeminiSimulation,
} from '../../simulator/providers/google-gemini.ts';
import { builtInCredentialSpecs } from '../credentials.ts';
import { builtInPrices, costOf } from '../prices/index.ts';
import { createProviderRegistry } from '../registry.ts';
import type { Credentials, ProviderAdapter, TextRequest, TextStreamEvent, Usage } from '../spec.ts';
import { isUpstreamError } from '../upstream-error.ts';
import { googleGeminiProvider } from './index.ts';

const canary = `test-gemini-CANARY-${randomBytes(12).toString('hex')}`;
const suspendedCanary = `test-gemini-suspended-CANARY-${randomBytes(12).toString('hex')}`;

const simulator = useSimulator({ providers: [googleGeminiSimulation] });

function adapterFor(
  key = GOOGLE_GEMINI_SIMULATOR_KEY,
  baseURL = simulator.baseURL('google-gemini'),
): ProviderAdapter {
  return googleGeminiProvider.createAdapter({
    baseURL,
    fetch: globalThis.fetch,
    credentials: () => ({ apiKey: new SecretValue(key) }),
  });
}

function textModel(adapter: ProviderAdapter) {
  if (!adapter.text) throw new Error('the google-gemini adapter has no text model');
  return adapter.text;
}

const lastRequest = () => simulator.requests.at(-1);
const lastBody = () => JSON.parse(lastRequest()?.body ?? '{}') as Record<string, unknown>;
const usage = (counts: Partial<Usage>): Usage => ({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  videoSeconds: 0,
  images: 0,
  ...counts,
});

/**
 * "You are terse." is 4 tokens and "Hello there friend" 3; gemini-2.5-flash thinks 20 tokens, and the reply
 * echoes the prompt in 15: output is 15 + 20.
 */
const request: TextRequest = {
  model: 'gemini-2.5-flash',
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Hello there friend' },
  ],
  maxOutputTokens: 50,
};
const expectedText =
  'Simulated reply from the Keyhaven provider simulator for your request about Hello there friend.';
const expectedUsage = usage({ inputTokens: 7, outputTokens: 35, reasoningTokens: 20 });

describe('google-gemini provider definition', () => {
  it('declares the built-in credential, the SDK base URL and prices from the price table', () => {
    expect(googleGeminiProvider.id).toBe('google-gemini');
    expect(googleGeminiProvider.defaultBaseURL).toBe('https://generativelanguage.googleapis.com');
    expect(googleGeminiProvider.credential).toBe(
      builtInCredentialSpecs.find((spec) => spec.provider === 'google-gemini'),
    );
    const flash = googleGeminiProvider.models.find((model) => model.id === 'gemini-2.5-flash');
    expect(flash?.price).toEqual(builtInPrices['google-gemini']?.['gemini-2.5-flash']);
    expect(
      googleGeminiProvider.models.find((model) => model.id === 'gemini-2.0-flash')?.price,
    ).toBeUndefined();
  });
  it('plugs into the registry, whose base URL override points it at the simulator', async () => {
    const registry = createProviderRegistry({
      providers: [googleGeminiProvider],
      env: { KEYHAVEN_GOOGLE_GEMINI_BASE_URL: simulator.baseURL('google-gemini') },
    });
    await expect(
      registry.adapterFromCredentials('google-gemini', { apiKey: GOOGLE_GEMINI_SIMULATOR_KEY }).validate(),
    ).resolves.toEqual({
      status: 'valid',
    });
    expect(() => registry.adapterFromCredentials('google-gemini', { apiKey: ' ' })).toThrow(
      /apiKey must not be empty/,
    );
  });
});

describe('google-gemini validate', () => {
  it('is valid for an accepted key, sent in the header and never in the URL', async () => {
    await expect(adapterFor().validate()).resolves.toEqual({ status: 'valid' });
    expect(lastRequest()?.method).toBe('GET');
    expect(lastRequest()?.path).toBe('/v1beta/models?pageSize=1');
    expect(lastRequest()?.headers['x-goog-api-key']).toBe(GOOGLE_GEMINI_SIMULATOR_KEY);
  });

  it('is invalid for a refused key (a 400 API_KEY_INVALID, not a 401)', async () => {
    await expect(adapterFor('test-gemini-not-a-real-key').validate()).resolves.toEqual({
      status: 'invalid',
      reason: 'google-gemini: API key not valid. Please pass a valid API key.',
    });
  });

  it('is invalid for a suspended consumer, with the key redacted from the reason', async () => {
    const result = await adapterFor(suspendedCanary).validate();
    expect(result).toEqual({
      status: 'invalid',
      reason: "google-gemini: Permission denied: Consumer 'api_key:[REDACTED]' has been suspended.",
    });
  });

  it('is unreachable when nothing listens', async () => {
    const result = await adapterFor(
      GOOGLE_GEMINI_SIMULATOR_KEY,
      `http://127.0.0.1:${await closedPort()}`,
    ).validate();
    expect(result.status).toBe('unreachable');
  });

  it("is rate limited with the wait from Google's RetryInfo", async () => {
    simulator.addFault({ provider: 'google-gemini', status: 429, retryAfterSeconds: 37.2, count: 1 });
    await expect(adapterFor().validate()).resolves.toEqual({ status: 'rate_limited', retryAfterMs: 37_200 });
  });
});

describe('google-gemini text.generate', () => {
  it('sends systemInstruction and the model role, and reports usage with thoughts as output', async () => {
    const result = await textModel(adapterFor()).generate(request);
    expect(result).toEqual({
      text: expectedText,
      model: 'gemini-2.5-flash',
      finishReason: 'stop',
      usage: expectedUsage,
      warnings: [],
    });
    expect(lastRequest()?.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(lastBody()).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hello there friend' }] }],
      systemInstruction: { parts: [{ text: 'You are terse.' }] },
      generationConfig: { maxOutputTokens: 50 },
    });
  });

  it('maps a conversation: assistant turns are model turns, late system messages are moved with a warning', async () => {
    const result = await textModel(adapterFor()).generate({
      model: 'models/gemini-2.0-flash',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Again' },
      ],
      temperature: 3,
    });
    expect(lastRequest()?.path).toBe('/v1beta/models/gemini-2.0-flash:generateContent');
    expect(lastBody()).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'Hi' }] },
        { role: 'model', parts: [{ text: 'Hello' }] },
        { role: 'user', parts: [{ text: 'Again' }] },
      ],
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      generationConfig: { temperature: 2 },
    });
    expect(result.warnings).toEqual([
      'system messages after the conversation started were moved into systemInstruction',
      "temperature 3 is outside Gemini's 0..2 range; 2 was sent",
    ]);
  });

  it('honours maxOutputTokens on a model without thinking', async () => {
    const result = await textModel(adapterFor()).generate({
      ...request,
      model: 'gemini-2.0-flash',
      maxOutputTokens: 5,
    });
    expect(result.text).toBe('Simulated reply from the Keyhaven');
    expect(result.finishReason).toBe('length');
    expect(result.usage).toEqual(usage({ inputTokens: 7, outputTokens: 5 }));
  });

  it('tolerates a MAX_TOKENS reply with no parts when thoughts used the whole limit', async () => {
    const result = await textModel(adapterFor()).generate({ ...request, maxOutputTokens: 10 });
    expect(result).toMatchObject({ text: '', finishReason: 'length' });
    expect(result.usage).toEqual(usage({ inputTokens: 7, outputTokens: 10, reasoningTokens: 10 }));
  });

  it('counts implicitly cached prompt tokens as cache reads, not input, and prices them', async () => {
    const system = Array.from({ length: 1100 }, () => 'context').join(' ');
    const ask = (content: string) =>
      textModel(adapterFor()).generate({
        model: 'gemini-2.5-flash',
        messages: [
          { role: 'system', content: system },
          { role: 'user', content },
        ],
      });
    const first = await ask('First question');
    expect(first.usage).toEqual(usage({ inputTokens: 1102, outputTokens: 34, reasoningTokens: 20 }));
    const second = await ask('Second question here');
    // promptTokenCount 1103 includes cachedContentTokenCount 1100: input is the 3 new tokens.
    expect(second.usage).toEqual(
      usage({ inputTokens: 3, cacheReadTokens: 1100, outputTokens: 35, reasoningTokens: 20 }),
    );
    // gemini-2.5-flash: $0.30 in, $2.50 out, $0.03 cache read per million tokens (= micro-USD per token).
    // 3 x 0.30 + 35 x 2.50 + 1,100 x 0.03 = 0.9 + 87.5 + 33 = 121.4, rounded to 121 micro-USD; the 20
    // thought tokens are inside the 35 output tokens and billed once, as output.
    const price = googleGeminiProvider.models.find((model) => model.id === 'gemini-2.5-flash')?.price;
    expect(costOf(price, second.usage)).toBe(121);
  });
});

describe('google-gemini text.stream', () => {
  it('yields the text as deltas and the last chunk’s usage in the finish event', async () => {
    const events = await collect(textModel(adapterFor()).stream(request));
    expect(events).toEqual([
      { type: 'text-delta', text: 'Simulated reply from the' },
      { type: 'text-delta', text: ' Keyhaven provider simulator for' },
      { type: 'text-delta', text: ' your request about Hello' },
      { type: 'text-delta', text: ' there friend.' },
      { type: 'finish', finishReason: 'stop', usage: expectedUsage, warnings: [] },
    ]);
    expect(lastRequest()?.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  });

  it('delivers deltas as they arrive on a slow stream', async () => {
    simulator.addFault({ provider: 'google-gemini', chunkDelayMs: 60 });
    const arrivals: { type: string; at: number }[] = [];
    let finalUsage: Usage | undefined;
    for await (const event of textModel(adapterFor()).stream(request)) {
      arrivals.push({ type: event.type, at: performance.now() });
      if (event.type === 'finish') finalUsage = event.usage;
    }
    expect(finalUsage).toEqual(expectedUsage);
    // Four chunks 60 ms apart: the first delta comes long before the last, not after buffering.
    expect((arrivals.at(-1)?.at ?? 0) - (arrivals[0]?.at ?? 0)).toBeGreaterThan(140);
  });

  it('throws an UpstreamError from the iterator on an error chunk in the middle of the stream', async () => {
    simulator.addFault({ provider: 'google-gemini', midStreamErrorAfterChunks: 2, count: 1 });
    const received: string[] = [];
    const error = await upstreamFailure(
      (async () => {
        for await (const event of textModel(adapterFor()).stream(request)) {
          if (event.type === 'text-delta') received.push(event.text);
        }
      })(),
    );
    expect(received).toEqual(['Simulated reply from the', ' Keyhaven provider simulator for']);
    expect(error).toMatchObject({ kind: 'overloaded', retryable: true, providerCode: 'UNAVAILABLE' });
    expect(error.message).toBe('google-gemini: The model is overloaded. Please try again later.');
  });

  it('fails a stream cut before the chunk with the finishReason', async () => {
    const cut = `data: ${JSON.stringify({
      candidates: [{ content: { parts: [{ text: 'Half' }], role: 'model' }, index: 0 }],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
    })}\r\n\r\n`;
    const adapter = googleGeminiProvider.createAdapter({
      baseURL: 'http://recorded.invalid',
      fetch: async () => new Response(cut, { headers: { 'content-type': 'text/event-stream' } }),
      credentials: () => ({ apiKey: new SecretValue(GOOGLE_GEMINI_SIMULATOR_KEY) }),
    });
    const received: TextStreamEvent[] = [];
    const error = await upstreamFailure(
      (async () => {
        for await (const event of textModel(adapter).stream(request)) received.push(event);
      })(),
    );
    expect(received).toEqual([{ type: 'text-delta', text: 'Half' }]);
    expect(error).toMatchObject({ kind: 'server_error', retryable: true });
  });

  it('maps an error answered on the stream URL before any event', async () => {
    const error = await upstreamFailure(
      collect(textModel(adapterFor()).stream({ ...request, model: 'gemini-nonexistent' })),
    );
    expect(error).toMatchObject({ kind: 'not_found', status: 404, providerCode: 'NOT_FOUND' });
  });
});

describe('google-gemini error mapping', () => {
  const cases: {
    fault: Omit<Fault, 'provider'>;
    kind: string;
    status: number;
    code: string;
    retryable: boolean;
  }[] = [
    { fault: { status: 400 }, kind: 'bad_request', status: 400, code: 'INVALID_ARGUMENT', retryable: false },
    {
      fault: { status: 401 },
      kind: 'authentication',
      status: 401,
      code: 'UNAUTHENTICATED',
      retryable: false,
    },
    { fault: { status: 403 }, kind: 'permission', status: 403, code: 'PERMISSION_DENIED', retryable: false },
    { fault: { status: 404 }, kind: 'not_found', status: 404, code: 'NOT_FOUND', retryable: false },
    {
      fault: { status: 429 },
      kind: 'rate_limited',
      status: 429,
      code: 'RESOURCE_EXHAUSTED',
      retryable: true,
    },
    {
      fault: { status: 429, quotaExhausted: true },
      kind: 'quota_exhausted',
      status: 429,
      code: 'RESOURCE_EXHAUSTED',
      retryable: false,
    },
    {
      fault: { status: 402 },
      kind: 'quota_exhausted',
      status: 429,
      code: 'RESOURCE_EXHAUSTED',
      retryable: false,
    },
    { fault: { status: 500 }, kind: 'server_error', status: 500, code: 'INTERNAL', retryable: true },
    { fault: { status: 503 }, kind: 'overloaded', status: 503, code: 'UNAVAILABLE', retryable: true },
    { fault: { status: 529 }, kind: 'overloaded', status: 503, code: 'UNAVAILABLE', retryable: true },
    { fault: { status: 504 }, kind: 'timeout', status: 504, code: 'DEADLINE_EXCEEDED', retryable: true },
  ];

  it.each(cases)(
    'maps an injected $fault.status ($code) to $kind',
    async ({ fault, kind, status, code, retryable }) => {
      simulator.addFault({ provider: 'google-gemini', ...fault, count: 1 });
      const error = await upstreamFailure(textModel(adapterFor()).generate(request));
      expect(error).toMatchObject({ provider: 'google-gemini', kind, status, providerCode: code, retryable });
    },
  );

  it('maps an invalid key by its reason, API_KEY_INVALID, though the status is 400', async () => {
    const error = await upstreamFailure(textModel(adapterFor('test-gemini-wrong')).generate(request));
    expect(error).toMatchObject({ kind: 'authentication', status: 400, providerCode: 'API_KEY_INVALID' });
  });

  it('maps a suspended consumer to permission by its reason', async () => {
    const error = await upstreamFailure(textModel(adapterFor('test-gemini-suspended')).generate(request));
    expect(error).toMatchObject({ kind: 'permission', status: 403, providerCode: 'CONSUMER_SUSPENDED' });
  });

  it('keeps the wait of a 503 that carries a RetryInfo', async () => {
    simulator.addFault({ provider: 'google-gemini', status: 503, retryAfterSeconds: 2, count: 1 });
    const error = await upstreamFailure(textModel(adapterFor()).generate(request));
    expect(error).toMatchObject({ kind: 'overloaded', retryAfterMs: 2000 });
  });

  it('fails fast on a stalled connection when the caller gives a timeout', async () => {
    simulator.addFault({ provider: 'google-gemini', stall: true });
    const started = performance.now();
    const error = await textModel(adapterFor())
      .generate({ ...request, signal: AbortSignal.timeout(150) })
      .catch((caught: unknown) => caught);
    expect((error as Error).name).toBe('TimeoutError');
    const streamed = await collect(
      textModel(adapterFor()).stream({ ...request, signal: AbortSignal.timeout(150) }),
    ).catch((caught: unknown) => caught);
    expect((streamed as Error).name).toBe('TimeoutError');
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('google-gemini secrets', () => {
  it('never shows the key in errors, inspect output, logs or URLs, whatever fails', async () => {
    const errors: unknown[] = [];
    const capture = (promise: Promise<unknown>) => promise.catch((error: unknown) => errors.push(error));
    const printed = await capturingConsole(async () => {
      await capture(textModel(adapterFor(canary)).generate(request));
      // This one's error message quotes the key back: redaction has to catch it.
      await capture(textModel(adapterFor(suspendedCanary)).generate(request));
      await capture(collect(textModel(adapterFor(suspendedCanary)).stream(request)));
      simulator.addKey('google-gemini', canary);
      const accepted = adapterFor(canary);
      for (const status of [403, 429, 500, 503] as const) {
        simulator.addFault({ provider: 'google-gemini', status, retryAfterSeconds: 1, count: 1 });
        await capture(textModel(accepted).generate(request));
      }
      simulator.addFault({ provider: 'google-gemini', midStreamErrorAfterChunks: 1, count: 1 });
      await capture(collect(textModel(accepted).stream(request)));
      simulator.addFault({ provider: 'google-gemini', stall: true, count: 1 });
      await capture(textModel(accepted).generate({ ...request, signal: AbortSignal.timeout(100) }));
      await capture(
        textModel(adapterFor(canary, `http://127.0.0.1:${await closedPort()}`)).generate(request),
      );
    });
    expect(errors).toHaveLength(10);
    const suspended = errors[1];
    expect(isUpstreamError(suspended) && suspended.message).toContain("'api_key:[REDACTED]'");
    expect(
      simulator.requests.filter((sent) => sent.headers['x-goog-api-key'] === canary).length,
    ).toBeGreaterThan(5);
    expect(simulator.requests.every((sent) => !sent.path.includes('key='))).toBe(true);
    const haystacks = [
      ...errors.flatMap(errorViews),
      ...printed,
      ...simulator.requests.map((sent) => sent.path),
    ];
    for (const haystack of haystacks) {
      expect(haystack).not.toContain(canary);
      expect(haystack).not.toContain(suspendedCanary);
    }
  });
});

describe('google-gemini credentials', () => {
  it('reads the credential when each request is made, never when the adapter is built', async () => {
    let reads = 0;
    let key = GOOGLE_GEMINI_SIMULATOR_KEY;
    const adapter = googleGeminiProvider.createAdapter({
      baseURL: simulator.baseURL('google-gemini'),
      fetch: globalThis.fetch,
      credentials: async (): Promise<Credentials> => {
        reads += 1;
        return { apiKey: new SecretValue(key) };
      },
    });
    const stream = textModel(adapter).stream(request);
    expect(reads).toBe(0);
    await collect(stream);
    expect(reads).toBe(1);
    key = 'test-gemini-rotated-key';
    simulator.addKey('google-gemini', key);
    await expect(adapter.validate()).resolves.toEqual({ status: 'valid' });
    expect(reads).toBe(2);
    expect(lastRequest()?.headers['x-goog-api-key']).toBe('test-gemini-rotated-key');
  });
});
