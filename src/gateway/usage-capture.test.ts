import { describe, expect, it } from 'vitest';
import { createUsageCapture } from './usage-capture.ts';

/** Feeds a body through a capture in pieces of `size` bytes and returns what the client would see. */
function run(capture: ReturnType<typeof createUsageCapture>, body: string, size = 7): string {
  const bytes = Buffer.from(body, 'utf8');
  const out: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size)
    out.push(capture.push(bytes.subarray(offset, offset + size)));
  out.push(capture.end());
  return Buffer.concat(out).toString('utf8');
}

const sse = (...events: unknown[]) =>
  events.map((event) => `data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`).join('');

describe('usage capture', () => {
  it('hides the usage the gateway asked for on an OpenAI stream and keeps it for the meter', () => {
    const body = sse(
      { id: 'c', model: 'gpt-4o-mini-2024', choices: [{ index: 0, delta: { content: 'Hé' } }], usage: null },
      { id: 'c', model: 'gpt-4o-mini-2024', choices: [{ index: 0, delta: { content: 'llo' } }], usage: null },
      {
        id: 'c',
        choices: [],
        usage: { prompt_tokens: 20, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 5 } },
      },
      '[DONE]',
    );
    const capture = createUsageCapture({
      dialect: 'openai',
      contentType: 'text/event-stream; charset=utf-8',
      hideUsage: true,
    });
    // Three-byte pieces split the two-byte é and every event across pushes.
    const seen = run(capture, body, 3);
    expect(seen).toBe(
      sse(
        { id: 'c', model: 'gpt-4o-mini-2024', choices: [{ index: 0, delta: { content: 'Hé' } }] },
        { id: 'c', model: 'gpt-4o-mini-2024', choices: [{ index: 0, delta: { content: 'llo' } }] },
        '[DONE]',
      ),
    );
    expect(capture.rewrites).toBe(true);
    expect(capture.result()).toEqual({
      model: 'gpt-4o-mini-2024',
      usage: expect.objectContaining({ inputTokens: 15, cacheReadTokens: 5, outputTokens: 2 }),
    });
  });

  it('takes out only the top-level usage member, wherever and however it is written', () => {
    const events = [
      '{"usage":null,"id":"a","choices":[{"delta":{"content":"x"}}]}',
      '{"id":"b","usage" : null,"choices":[]}',
      '{"id":"c","choices":[{"delta":{"content":"say \\"usage\\":null"}}],"usage":null}',
      '{"id":"d","role":"usage","usage":null}',
      '{"id":"e","meta":{"usage":null},"usage":null}',
      '{"usage":null}',
    ];
    const capture = createUsageCapture({
      dialect: 'openai',
      contentType: 'text/event-stream',
      hideUsage: true,
    });
    const seen = run(capture, events.map((event) => `data: ${event}\n\n`).join(''), 5);
    const data = seen
      .split('\n\n')
      .filter(Boolean)
      .map((frame) => frame.replace(/^data: /, ''));
    // What the client gets parses to the chunk without its usage, nested members and strings untouched.
    expect(data.map((text) => JSON.parse(text))).toEqual(
      events.map((event) => {
        const { usage: _usage, ...rest } = JSON.parse(event) as Record<string, unknown>;
        return rest;
      }),
    );
    expect(data[0]).toBe('{"id":"a","choices":[{"delta":{"content":"x"}}]}');
    expect(data[2]).toBe('{"id":"c","choices":[{"delta":{"content":"say \\"usage\\":null"}}]}');
  });

  it('passes a stream through byte for byte when the client asked for usage itself', () => {
    const body = `: comment\n\n${sse({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } }, '[DONE]')}`;
    const capture = createUsageCapture({ dialect: 'openai', contentType: 'text/event-stream' });
    expect(run(capture, body)).toBe(body);
    expect(capture.rewrites).toBe(false);
    expect(capture.result().usage).toMatchObject({ inputTokens: 3, outputTokens: 4 });
  });

  it('counts delivered deltas when an OpenAI stream stops before its usage chunk', () => {
    const capture = createUsageCapture({
      dialect: 'openai',
      contentType: 'text/event-stream',
      requestModel: 'gpt-4o',
    });
    capture.push(
      Buffer.from(sse(...['a', 'b', 'c'].map((content) => ({ choices: [{ delta: { content } }] })))),
    );
    expect(capture.result()).toEqual({
      model: 'gpt-4o',
      usage: expect.objectContaining({ outputTokens: 3 }),
    });
  });

  it('reads Anthropic usage from message_start and the cumulative message_delta', () => {
    const body = [
      'event: message_start',
      `data: ${JSON.stringify({ type: 'message_start', message: { model: 'claude-x', usage: { input_tokens: 11, output_tokens: 1, cache_read_input_tokens: 7 } } })}`,
      '',
      'event: content_block_delta',
      `data: ${JSON.stringify({ type: 'content_block_delta', delta: { type: 'text_delta', text: 'Hi' } })}`,
      '',
      'event: message_delta',
      `data: ${JSON.stringify({ type: 'message_delta', usage: { output_tokens: 6 } })}`,
      '',
      '',
    ].join('\n');
    const capture = createUsageCapture({ dialect: 'anthropic', contentType: 'text/event-stream' });
    expect(run(capture, body)).toBe(body);
    expect(capture.result()).toEqual({
      model: 'claude-x',
      usage: expect.objectContaining({ inputTokens: 11, outputTokens: 6, cacheReadTokens: 7 }),
    });
  });

  it('reads Gemini usage from a JSON body, and from a JSON array of stream chunks', () => {
    const chunk = (candidates: number) => ({
      modelVersion: 'gemini-2.5-flash',
      usageMetadata: {
        promptTokenCount: 10,
        cachedContentTokenCount: 4,
        candidatesTokenCount: candidates,
        thoughtsTokenCount: 2,
      },
    });
    const single = createUsageCapture({ dialect: 'gemini', contentType: 'application/json; charset=UTF-8' });
    run(single, JSON.stringify(chunk(5)));
    expect(single.result().usage).toMatchObject({
      inputTokens: 6,
      cacheReadTokens: 4,
      outputTokens: 7,
      reasoningTokens: 2,
    });
    const array = createUsageCapture({ dialect: 'gemini', contentType: 'application/json' });
    run(array, JSON.stringify([chunk(1), chunk(9)]));
    expect(array.result().usage).toMatchObject({ outputTokens: 11 });
  });

  it('reads the Responses API usage', () => {
    const capture = createUsageCapture({ dialect: 'openai', contentType: 'text/event-stream' });
    run(
      capture,
      sse({
        type: 'response.completed',
        response: {
          model: 'gpt-5',
          usage: {
            input_tokens: 30,
            output_tokens: 12,
            input_tokens_details: { cached_tokens: 10 },
            output_tokens_details: { reasoning_tokens: 8 },
          },
        },
      }),
    );
    expect(capture.result()).toEqual({
      model: 'gpt-5',
      usage: expect.objectContaining({
        inputTokens: 20,
        cacheReadTokens: 10,
        outputTokens: 12,
        reasoningTokens: 8,
      }),
    });
  });

  it('reports no usage for a body that is not JSON or SSE, and passes it through', () => {
    const capture = createUsageCapture({ dialect: 'mistral', contentType: 'audio/mpeg' });
    expect(run(capture, 'binary-ish')).toBe('binary-ish');
    expect(capture.result().usage).toMatchObject({ inputTokens: 0, outputTokens: 0 });
  });
});
