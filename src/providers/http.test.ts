import { describe, expect, it } from 'vitest';
import { SecretValue } from '../crypto/index.ts';
import { type HttpContext, requestJson, secretsOf, send, sseEvents } from './http.ts';
import { isUpstreamError } from './upstream-error.ts';

const context = (fetchImplementation: typeof fetch): HttpContext => ({
  provider: 'example',
  baseURL: 'http://upstream.invalid/v1/',
  fetch: fetchImplementation,
  mapError: (_status, body) =>
    typeof body === 'object' && body !== null && 'error' in body
      ? { message: String((body as { error: unknown }).error) }
      : {},
});

describe('send', () => {
  it('maps an error status through the mapper, with the wait from the headers and secrets redacted', async () => {
    const secret = 'sk-test-CANARY-0123456789';
    const fetchImplementation: typeof fetch = async () =>
      new Response(JSON.stringify({ error: `bad key ${secret}` }), {
        status: 429,
        headers: { 'retry-after': '2' },
      });
    const error = await send(context(fetchImplementation), {
      path: '/models',
      headers: {},
      secrets: [secret],
    }).catch((caught: unknown) => caught);
    expect(isUpstreamError(error, 'rate_limited')).toBe(true);
    if (!isUpstreamError(error)) return;
    expect(error.retryAfterMs).toBe(2000);
    expect(error.message).toContain('[REDACTED]');
    expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain(secret);
  });

  it('redacts a secret that straddles the error body limit', async () => {
    const secret = 'sk-test-CANARY-straddle-0123456789';
    const body = `${'x'.repeat(4096 - 10)}${secret}`;
    const fetchImplementation: typeof fetch = async () => new Response(body, { status: 400 });
    const error = await send(context(fetchImplementation), {
      path: '/x',
      headers: {},
      secrets: [secret],
    }).catch((caught: unknown) => caught);
    expect(isUpstreamError(error)).toBe(true);
    if (!isUpstreamError(error)) return;
    expect(error.body).not.toContain(secret.slice(0, 10));
    expect(error.message).not.toContain(secret.slice(0, 10));
  });

  it('turns a transport failure into unreachable without the URL or the cause', async () => {
    const fetchImplementation: typeof fetch = async () => {
      throw new TypeError(
        'fetch failed: connect ECONNREFUSED http://upstream.invalid/v1/models?key=sk-test-secret',
      );
    };
    const error = await send(context(fetchImplementation), {
      path: 'models',
      headers: {},
      secrets: [],
    }).catch((caught: unknown) => caught);
    expect(isUpstreamError(error, 'unreachable')).toBe(true);
    expect(String(error)).not.toContain('sk-test-secret');
    expect((error as Error).cause).toBeUndefined();
  });

  it('joins the base URL and path with exactly one slash and says when a body is not JSON', async () => {
    let seen = '';
    const fetchImplementation: typeof fetch = async (input) => {
      seen = String(input);
      return new Response('<html>oops</html>', { status: 200 });
    };
    const error = await requestJson(context(fetchImplementation), {
      path: '/models',
      headers: {},
      secrets: [],
    }).catch((caught: unknown) => caught);
    expect(seen).toBe('http://upstream.invalid/v1/models');
    expect(isUpstreamError(error, 'invalid_response')).toBe(true);
  });
});

describe('secretsOf', () => {
  it('reveals every field for redaction', () => {
    expect(secretsOf({ apiKey: new SecretValue('a'), organization: new SecretValue('b') })).toEqual([
      'a',
      'b',
    ]);
  });
});

describe('sseEvents', () => {
  it('yields events split across arbitrary chunk boundaries', async () => {
    const text = 'event: a\ndata: {"n":1}\n\ndata: {"n":2}\n\n';
    const chunks = [...text].map((character) => new TextEncoder().encode(character));
    const body = new ReadableStream({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(chunk);
        controller.close();
      },
    });
    const events = [];
    for await (const event of sseEvents(new Response(body))) events.push(event);
    expect(events.map((event) => [event.event, event.data])).toEqual([
      ['a', '{"n":1}'],
      [undefined, '{"n":2}'],
    ]);
  });

  it('keeps memory flat while 100 MB of events stream through', async () => {
    const frame = new TextEncoder().encode(
      `data: {"choices":[{"delta":{"content":"${'x'.repeat(1000)}"}}]}\n\n`,
    );
    const target = 100 * 1024 * 1024;
    let produced = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (produced >= target) return controller.close();
        controller.enqueue(frame);
        produced += frame.length;
      },
    });
    globalThis.gc?.();
    const before = process.memoryUsage();
    let peak = 0;
    let count = 0;
    for await (const event of sseEvents(new Response(body))) {
      count += event.data.length > 0 ? 1 : 0;
      if (count % 5000 === 0) {
        const usage = process.memoryUsage();
        peak = Math.max(peak, usage.heapUsed + usage.arrayBuffers - before.heapUsed - before.arrayBuffers);
      }
    }
    expect(produced).toBeGreaterThanOrEqual(target);
    expect(count).toBe(Math.ceil(target / frame.length));
    // A buffered stream would hold 100 MB (more as UTF-16 strings); streaming holds a few frames plus
    // garbage not yet collected.
    expect(peak).toBeLessThan(40 * 1024 * 1024);
  }, 60_000);
});
