import { Mistral } from '@mistralai/mistralai';
import { HTTPValidationError, SDKError } from '@mistralai/mistralai/models/errors';
import { describe, expect, it } from 'vitest';
import { MISTRAL_SIMULATOR_KEY, mistralSimulation } from '../../src/simulator/providers/mistral.ts';
import { rejection, useSimulator } from '../support/providers.ts';

/**
 * The official @mistralai/mistralai SDK as a real client of the simulator: it validates every response
 * with its own zod schemas, so a body it accepts has Mistral's shape.
 */

const simulator = useSimulator({ providers: [mistralSimulation] });

function client(apiKey = MISTRAL_SIMULATOR_KEY) {
  // The SDK retries nothing unless retryConfig asks it to.
  return new Mistral({ apiKey, serverURL: simulator.baseURL('mistral') });
}

const SAY_THIS = {
  model: 'mistral-small-latest',
  messages: [{ role: 'user' as const, content: 'Say this is a test!' }],
};

describe('Mistral SDK against the simulator', () => {
  it('lists models', async () => {
    const list = await client().models.list();
    const ids = list.data?.map((model) => ('id' in model ? model.id : undefined));
    expect(ids).toContain('mistral-large-latest');
    expect(list.data?.[0]).toMatchObject({
      type: 'base',
      ownedBy: 'mistralai',
      capabilities: { completionChat: true },
    });
  });

  it('completes a chat', async () => {
    const response = await client().chat.complete({ ...SAY_THIS, maxTokens: 5 });
    expect(response).toMatchObject({
      object: 'chat.completion',
      model: 'mistral-small-latest',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Simulated reply from the Keyhaven' },
          finishReason: 'length',
        },
      ],
      usage: { promptTokens: 9, completionTokens: 5, totalTokens: 14 },
    });
  });

  it('streams a chat, with usage on the last event', async () => {
    const stream = await client().chat.stream(SAY_THIS);
    let content = '';
    const events = [];
    for await (const event of stream) {
      events.push(event);
      const delta = event.data.choices[0]?.delta.content;
      if (typeof delta === 'string') content += delta;
    }
    expect(content).toBe(
      'Simulated reply from the Keyhaven provider simulator for your request about Say this is.',
    );
    expect(events.at(-1)?.data).toMatchObject({
      choices: [{ finishReason: 'stop' }],
      usage: { promptTokens: 9, completionTokens: 15, totalTokens: 24 },
    });
  });

  it('fails with the status and body of each error the simulator sends', async () => {
    const unauthorized = await rejection(client('sk-test-mistral-unknown').chat.complete(SAY_THIS));
    expect(unauthorized).toBeInstanceOf(SDKError);
    expect(unauthorized).toMatchObject({ statusCode: 401 });
    expect(JSON.parse((unauthorized as SDKError).body)).toEqual({ detail: 'Unauthorized' });

    const cases = [
      { fault: { status: 403 as const }, statusCode: 403 },
      { fault: { status: 429 as const, retryAfterSeconds: 2 }, statusCode: 429, type: 'rate_limited' },
      { fault: { status: 429 as const, quotaExhausted: true }, statusCode: 402 },
      { fault: { status: 500 as const }, statusCode: 500, type: 'server_error' },
    ];
    for (const { fault, statusCode, type } of cases) {
      simulator.addFault({ provider: 'mistral', count: 1, ...fault });
      const error = await rejection(client().chat.complete(SAY_THIS));
      expect(error).toBeInstanceOf(SDKError);
      expect(error).toMatchObject({ statusCode });
      const body = JSON.parse((error as SDKError).body) as { object: string; type: string };
      expect(body.object).toBe('error');
      if (type) expect(body.type).toBe(type);
      if (statusCode === 429) expect((error as SDKError).headers.get('retry-after')).toBe('2');
    }
  });

  it('parses a validation failure as HTTPValidationError', async () => {
    const error = await rejection(client().chat.complete({ model: 'mistral-small-latest', messages: [] }));
    expect(error).toBeInstanceOf(HTTPValidationError);
    expect((error as HTTPValidationError).detail?.[0]).toMatchObject({
      loc: ['body', 'messages'],
      msg: 'Field required',
    });
  });

  it('stops with an error when the stream carries an error event', async () => {
    simulator.addFault({ provider: 'mistral', midStreamErrorAfterChunks: 3 });
    const stream = await client().chat.stream(SAY_THIS);
    let content = '';
    const error = await rejection(
      (async () => {
        for await (const event of stream) {
          const delta = event.data.choices[0]?.delta.content;
          if (typeof delta === 'string') content += delta;
        }
      })(),
    );
    // The SDK has no stream-error type: the error event fails its chunk schema, which ends the stream.
    expect(content).toBe('Simulated reply');
    expect(error).toMatchObject({ name: 'ZodError' });
  });
});
