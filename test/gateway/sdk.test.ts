import Anthropic from '@anthropic-ai/sdk';
import { ApiError, GoogleGenAI } from '@google/genai';
import { Mistral } from '@mistralai/mistralai';
import { SDKError } from '@mistralai/mistralai/models/errors';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets } from '../support/databases.ts';
import { type GatewayFixture, startGateway } from './support.ts';

/**
 * The official SDKs, unchanged, pointed at the gateway with a user token as their API key: plain calls,
 * streams and errors come back as the SDK expects, every response names the credential that served it,
 * and the usage meter receives the provider's token counts.
 */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => error,
  );
}

describe.each(databaseTargets)('official SDKs through the gateway on $name', ({ name }) => {
  let fixture: GatewayFixture;
  let token: string;
  let userId: string;

  beforeAll(async () => {
    fixture = await startGateway({ target: name });
    ({ token, userId } = await fixture.user());
  });
  afterAll(async () => {
    await fixture?.close();
  });
  afterEach(() => {
    fixture.simulator.clearFaults();
  });

  const openai = () => new OpenAI({ apiKey: token, baseURL: `${fixture.url}/v1/openai`, maxRetries: 0 });
  const anthropic = () =>
    new Anthropic({ apiKey: token, baseURL: `${fixture.url}/v1/anthropic`, maxRetries: 0 });
  const gemini = () =>
    new GoogleGenAI({ apiKey: token, httpOptions: { baseUrl: `${fixture.url}/v1/gemini` } });
  const mistral = () => new Mistral({ apiKey: token, serverURL: `${fixture.url}/v1/mistral` });

  describe('OpenAI', () => {
    const request = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'Say this is a test!' }],
    };

    it('completes a chat, names the credential and meters the usage', async () => {
      const { data, response } = await openai().chat.completions.create(request).withResponse();
      expect(data.choices[0]?.message.content).toMatch(/^Simulated reply/);
      expect(data.usage).toMatchObject({ prompt_tokens: 13 });
      expect(response.headers.get('x-keyhaven-credential')).toBe('openai:1');
      const record = await fixture.usageFor(response.headers.get('x-request-id'));
      expect(record).toMatchObject({
        userId,
        provider: 'openai',
        model: 'gpt-4o-mini',
        credentialVersion: 1,
        route: 'passthrough',
        status: 200,
        inputTokens: 13,
        outputTokens: data.usage?.completion_tokens,
      });
      expect(record.aborted).toBeUndefined();
    });

    it('streams a chat without include_usage: no usage chunk reaches the client, the meter gets it', async () => {
      const { data: stream, response } = await openai()
        .chat.completions.create({ ...request, stream: true })
        .withResponse();
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      expect(text).toMatch(/^Simulated reply/);
      expect(chunks.every((chunk) => chunk.choices.length > 0)).toBe(true);
      expect(chunks.every((chunk) => !('usage' in chunk))).toBe(true);
      const record = await fixture.usageFor(response.headers.get('x-request-id'));
      const contentChunks = chunks.filter((chunk) => chunk.choices[0]?.delta.content).length;
      expect(record).toMatchObject({ inputTokens: 13, outputTokens: contentChunks, status: 200 });
      // The provider was asked for the usage.
      const sent = fixture.simulator.requests.filter((entry) => entry.path === '/v1/chat/completions').at(-1);
      expect(JSON.parse(sent?.body ?? '{}')).toMatchObject({ stream_options: { include_usage: true } });
    });

    it('streams a chat with include_usage: the client sees the usage chunk', async () => {
      const stream = await openai().chat.completions.create({
        ...request,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const last = chunks.at(-1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage).toMatchObject({ prompt_tokens: 13 });
    });

    it('passes the provider refusing the key through, and marks the credential invalid once', async () => {
      const refused = await fixture.user(['openai']);
      fixture.simulator.addFault({ provider: 'openai', status: 401, count: 1 });
      const client = new OpenAI({
        apiKey: refused.token,
        baseURL: `${fixture.url}/v1/openai`,
        maxRetries: 0,
      });
      const error = await rejection(client.chat.completions.create(request));
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(
        (error as InstanceType<typeof OpenAI.AuthenticationError>).headers?.get('x-keyhaven-credential'),
      ).toBe('openai:1');
      const summary = await fixture.server.keyhaven.vault.get({ userId: refused.userId, provider: 'openai' });
      expect(summary.status).toBe('invalid');
      const invalid = fixture.events.filter(
        (event) => event.type === 'credential.invalid' && event.userId === refused.userId,
      );
      expect(invalid).toEqual([
        expect.objectContaining({ data: expect.objectContaining({ provider: 'openai', version: 1 }) }),
      ]);
      // A second refusal of a credential already marked invalid announces nothing new.
      fixture.simulator.addFault({ provider: 'openai', status: 401, count: 1 });
      await rejection(client.chat.completions.create(request));
      expect(
        fixture.events.filter(
          (event) => event.type === 'credential.invalid' && event.userId === refused.userId,
        ),
      ).toHaveLength(1);
    });

    it('passes an upstream 429 through with its retry headers', async () => {
      fixture.simulator.addFault({ provider: 'openai', status: 429, retryAfterSeconds: 7, count: 1 });
      const error = await rejection(openai().chat.completions.create(request));
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      const headers = (error as InstanceType<typeof OpenAI.RateLimitError>).headers;
      expect(headers?.get('retry-after')).toBe('7');
      expect((error as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({
        code: 'rate_limit_exceeded',
      });
      const metrics = await (await fetch(`${fixture.url}/metrics`)).text();
      expect(metrics).toMatch(/keyhaven_rate_limited_total\{provider="openai",source="upstream"\} 1/);
      expect(metrics).toMatch(
        /keyhaven_http_requests_total\{method="POST",route="\/v1\/openai\/\*",provider="openai",status="429"\} 1/,
      );
    });
  });

  describe('Anthropic', () => {
    const request = {
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user' as const, content: 'Hello there friend' }],
    };

    it('creates a message and meters input and output tokens', async () => {
      const { data, response } = await anthropic().messages.create(request).withResponse();
      expect(data.content[0]).toMatchObject({ type: 'text' });
      expect(response.headers.get('x-keyhaven-credential')).toBe('anthropic:1');
      const record = await fixture.usageFor(response.headers.get('x-request-id'));
      expect(record).toMatchObject({
        provider: 'anthropic',
        model: data.model,
        inputTokens: data.usage.input_tokens,
        outputTokens: data.usage.output_tokens,
        status: 200,
      });
    });

    it('streams a message; usage comes from message_start and message_delta', async () => {
      const { data: stream, response } = await anthropic()
        .messages.create({ ...request, stream: true })
        .withResponse();
      let text = '';
      let input = 0;
      let output = 0;
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
          text += event.delta.text;
        if (event.type === 'message_start') input = event.message.usage.input_tokens;
        if (event.type === 'message_delta') output = event.usage.output_tokens;
      }
      expect(text).toMatch(/^Simulated reply/);
      const record = await fixture.usageFor(response.headers.get('x-request-id'));
      expect(record).toMatchObject({ inputTokens: input, outputTokens: output });
      expect(output).toBeGreaterThan(0);
    });

    it('passes an overloaded 529 through after the gateway retried it', async () => {
      fixture.simulator.addFault({ provider: 'anthropic', status: 529, count: 5 });
      const before = fixture.simulator.requests.length;
      const error = await rejection(anthropic().messages.create(request));
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
      // One call and two retries reached the provider.
      expect(fixture.simulator.requests.length - before).toBe(3);
    });
  });

  describe('Gemini', () => {
    const request = { model: 'gemini-2.5-flash', contents: 'Hello there friend' };

    it('generates content and meters usageMetadata', async () => {
      const response = await gemini().models.generateContent(request);
      expect(response.text).toMatch(/^Simulated reply/);
      const record = fixture.usage.filter((entry) => entry.provider === 'google-gemini').at(-1);
      expect(record).toMatchObject({
        userId,
        model: response.modelVersion,
        inputTokens: response.usageMetadata?.promptTokenCount,
        outputTokens:
          (response.usageMetadata?.candidatesTokenCount ?? 0) +
          (response.usageMetadata?.thoughtsTokenCount ?? 0),
        credentialVersion: 1,
      });
    });

    it('streams content; the last chunk usage is metered', async () => {
      const before = fixture.usage.length;
      const stream = await gemini().models.generateContentStream(request);
      let text = '';
      let last: Awaited<ReturnType<GoogleGenAI['models']['generateContent']>> | undefined;
      for await (const chunk of stream) {
        text += chunk.text ?? '';
        last = chunk;
      }
      expect(text).toMatch(/^Simulated reply/);
      await expect.poll(() => fixture.usage.length).toBeGreaterThan(before);
      const record = fixture.usage.at(-1);
      expect(record).toMatchObject({
        provider: 'google-gemini',
        inputTokens: last?.usageMetadata?.promptTokenCount,
        // Thoughts are billed as output.
        outputTokens:
          (last?.usageMetadata?.candidatesTokenCount ?? 0) + (last?.usageMetadata?.thoughtsTokenCount ?? 0),
      });
      // The key went in its header, the user token did not.
      const sent = fixture.simulator.requests.filter((entry) => entry.provider === 'google-gemini').at(-1);
      expect(sent?.headers['x-goog-api-key']).toBe('test-gemini-simulator-key');
      expect(sent?.path).toContain(':streamGenerateContent?alt=sse');
    });

    it("passes Google's invalid-key 400 through and marks the credential invalid", async () => {
      const { userId: refusedUser, token: refusedToken } = await fixture.user([]);
      await fixture.server.keyhaven.vault.store({
        userId: refusedUser,
        provider: 'google-gemini',
        credentials: { apiKey: 'not-a-key-the-simulator-knows' },
        validate: false,
      });
      const client = new GoogleGenAI({
        apiKey: refusedToken,
        httpOptions: { baseUrl: `${fixture.url}/v1/gemini` },
      });
      const error = await rejection(client.models.generateContent(request));
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(400);
      expect((error as ApiError).message).toContain('API_KEY_INVALID');
      expect(
        (await fixture.server.keyhaven.vault.get({ userId: refusedUser, provider: 'google-gemini' })).status,
      ).toBe('invalid');
      expect(fixture.events).toContainEqual(
        expect.objectContaining({
          type: 'credential.invalid',
          userId: refusedUser,
          data: expect.objectContaining({ provider: 'google-gemini', version: 1 }),
        }),
      );
    });

    it('passes an injected 429 through as an ApiError', async () => {
      fixture.simulator.addFault({ provider: 'google-gemini', status: 429, count: 1 });
      const error = await rejection(gemini().models.generateContent(request));
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(429);
    });
  });

  describe('Mistral', () => {
    const request = {
      model: 'mistral-small-latest',
      messages: [{ role: 'user' as const, content: 'Say this is a test!' }],
    };

    it('completes a chat and meters usage', async () => {
      const response = await mistral().chat.complete(request);
      expect(response.usage).toMatchObject({ promptTokens: 9 });
      const record = fixture.usage.filter((entry) => entry.provider === 'mistral').at(-1);
      expect(record).toMatchObject({
        inputTokens: response.usage.promptTokens,
        outputTokens: response.usage.completionTokens,
        model: 'mistral-small-latest',
      });
    });

    it('streams a chat; the usage on the last event is metered and still reaches the client', async () => {
      const before = fixture.usage.length;
      const stream = await mistral().chat.stream(request);
      let content = '';
      let usage: { promptTokens?: number; completionTokens?: number } | undefined;
      for await (const event of stream) {
        const delta = event.data.choices[0]?.delta.content;
        if (typeof delta === 'string') content += delta;
        if (event.data.usage) usage = event.data.usage;
      }
      expect(content).toMatch(/^Simulated reply/);
      expect(usage?.completionTokens).toBeGreaterThan(0);
      await expect.poll(() => fixture.usage.length).toBeGreaterThan(before);
      expect(fixture.usage.at(-1)).toMatchObject({
        provider: 'mistral',
        inputTokens: usage?.promptTokens,
        outputTokens: usage?.completionTokens,
      });
    });

    it('passes a 503 through with its status once the retries are spent', async () => {
      fixture.simulator.addFault({ provider: 'mistral', status: 503, count: 3 });
      const error = await rejection(mistral().chat.complete(request));
      expect(error).toBeInstanceOf(SDKError);
      expect((error as SDKError).statusCode).toBe(503);
    });
  });
});
