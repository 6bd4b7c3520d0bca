import {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  OpenAI,
  PermissionDeniedError,
  RateLimitError,
} from 'openai';
import { describe, expect, it } from 'vitest';
import { OPENAI_SIMULATOR_KEY, openaiSimulation } from '../../src/simulator/providers/openai.ts';
import { rejection, useSimulator } from '../support/providers.ts';

/**
 * The official openai SDK as a real client of the simulator: if the SDK parses what the simulator
 * sends (bodies, streams, error classes, headers), the simulator speaks OpenAI's wire format.
 */

const simulator = useSimulator({ providers: [openaiSimulation] });

function client(apiKey = OPENAI_SIMULATOR_KEY) {
  return new OpenAI({ apiKey, baseURL: simulator.baseURL('openai'), maxRetries: 0 });
}

const SAY_THIS = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content: 'Say this is a test!' }],
};

describe('openai SDK against the simulator', () => {
  it('lists models', async () => {
    const ids: string[] = [];
    for await (const model of client().models.list()) ids.push(model.id);
    expect(ids).toContain('gpt-4o-mini');
    const model = await client().models.retrieve('gpt-4o');
    expect(model).toMatchObject({ id: 'gpt-4o', object: 'model', owned_by: 'system' });
  });

  it('creates a chat completion', async () => {
    const completion = await client().chat.completions.create({ ...SAY_THIS, max_completion_tokens: 5 });
    expect(completion).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Simulated reply from the Keyhaven', refusal: null },
          finish_reason: 'length',
        },
      ],
      usage: {
        prompt_tokens: 13,
        completion_tokens: 5,
        total_tokens: 18,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    });
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion._request_id).toMatch(/^req_/);
  });

  it('streams a chat completion and parses the include_usage chunk', async () => {
    const stream = await client().chat.completions.create({
      ...SAY_THIS,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    const chunks = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      content += chunk.choices[0]?.delta.content ?? '';
    }
    expect(content).toBe(
      'Simulated reply from the Keyhaven provider simulator for your request about Say this is.',
    );
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 13, completion_tokens: 15, total_tokens: 28 },
    });
  });

  it("accumulates a stream with the SDK's stream helper", async () => {
    const stream = client().chat.completions.stream({ ...SAY_THIS, stream_options: { include_usage: true } });
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]?.message.content).toContain('Simulated reply');
    expect(final.usage).toMatchObject({ prompt_tokens: 13, completion_tokens: 15 });
  });

  it('raises AuthenticationError for an unknown key', async () => {
    const error = await rejection(client('sk-test-unknown-key-12345678').chat.completions.create(SAY_THIS));
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'invalid_request_error' });
    expect((error as APIError).requestID).toMatch(/^req_/);
  });

  it('raises PermissionDeniedError for a 403', async () => {
    simulator.addFault({ provider: 'openai', status: 403 });
    const error = await rejection(client().models.list());
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error).toMatchObject({ status: 403, code: 'unsupported_country_region_territory' });
  });

  it('raises RateLimitError with the rate-limit headers, and tells quota apart by code', async () => {
    simulator.addFault({ provider: 'openai', status: 429, retryAfterSeconds: 2, count: 1 });
    const limited = await rejection(client().chat.completions.create(SAY_THIS));
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited).toMatchObject({ status: 429, code: 'rate_limit_exceeded', type: 'requests' });
    const headers = (limited as RateLimitError).headers;
    expect(headers.get('retry-after')).toBe('2');
    expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
    simulator.addFault({ provider: 'openai', status: 429, quotaExhausted: true, count: 1 });
    const quota = await rejection(client().chat.completions.create(SAY_THIS));
    expect(quota).toBeInstanceOf(RateLimitError);
    expect(quota).toMatchObject({ code: 'insufficient_quota', type: 'insufficient_quota' });
  });

  it('raises InternalServerError for 500 and 503', async () => {
    for (const status of [500, 503] as const) {
      simulator.addFault({ provider: 'openai', status, count: 1 });
      const error = await rejection(client().chat.completions.create(SAY_THIS));
      expect(error).toBeInstanceOf(InternalServerError);
      expect(error).toMatchObject({ status, type: 'server_error' });
    }
  });

  it('raises NotFoundError and BadRequestError as the real API does', async () => {
    const unknown = await rejection(client().chat.completions.create({ ...SAY_THIS, model: 'gpt-unknown' }));
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect(unknown).toMatchObject({ code: 'model_not_found' });
    const temperature = await rejection(
      client().chat.completions.create({ ...SAY_THIS, model: 'gpt-5', temperature: 0.2 }),
    );
    expect(temperature).toBeInstanceOf(BadRequestError);
    expect(temperature).toMatchObject({ code: 'unsupported_value', param: 'temperature' });
  });

  it('throws the error sent in the middle of a stream', async () => {
    simulator.addFault({ provider: 'openai', midStreamErrorAfterChunks: 3 });
    const stream = await client().chat.completions.create({ ...SAY_THIS, stream: true });
    let content = '';
    const error = await rejection(
      (async () => {
        for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
      })(),
    );
    expect(content).toBe('Simulated reply');
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ type: 'server_error' });
    expect((error as APIError).message).toContain('The server had an error while processing your request');
  });

  it('gets a deprecated-model 404 from the shut-down Videos API', async () => {
    const error = await rejection(
      client().videos.create({ prompt: 'A cat on a skateboard', model: 'sora-2' }),
    );
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'model_not_found' });
    expect((error as APIError).message).toContain('`sora-2` has been deprecated');
  });
});
