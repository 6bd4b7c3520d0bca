import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, startGateway } from './support.ts';

/**
 * Upstream faults through the simulator, with short upstream timeouts: a slow provider is waited for,
 * a stalled one is given up on (before the first byte: a clean 503; mid-stream: the stream ends and what
 * was delivered is metered), and a persistent 5xx passes through without hanging the client.
 */
describe('the gateway under upstream faults', () => {
  let fixture: GatewayFixture;
  let token: string;
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say this is a test!' }] };

  beforeAll(async () => {
    fixture = await startGateway({
      target: 'pglite',
      env: { KEYHAVEN_UPSTREAM_HEADERS_TIMEOUT_MS: '700', KEYHAVEN_UPSTREAM_IDLE_TIMEOUT_MS: '700' },
    });
    ({ token } = await fixture.user(['openai']));
  });
  afterAll(async () => {
    await fixture?.close();
  });
  afterEach(() => fixture.simulator.clearFaults());

  async function call(body: unknown) {
    const started = Date.now();
    const response = await request(`${fixture.url}/v1/openai/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    let text = '';
    let broken = false;
    try {
      text = await response.body.text();
    } catch {
      broken = true;
    }
    return {
      status: response.statusCode,
      headers: response.headers,
      text,
      broken,
      elapsedMs: Date.now() - started,
    };
  }

  it('waits for a slow provider within the timeout', async () => {
    fixture.simulator.addFault({ provider: 'openai', latencyMs: 300, count: 1 });
    const response = await call(chat);
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(JSON.parse(response.text).choices[0].message.content).toMatch(/^Simulated reply/);
  });

  it('gives up on a stalled provider with a clean 503 instead of hanging, and counts a timeout', async () => {
    fixture.simulator.addFault({ provider: 'openai', stall: true, count: 1 });
    const response = await call(chat);
    expect(response.status).toBe(503);
    expect(JSON.parse(response.text).error.code).toBe('provider_unavailable');
    expect(response.headers['x-keyhaven-credential']).toBe('openai:1');
    // A request the provider may have received is not sent again: one timeout, not three.
    const metrics = await request(`${fixture.url}/metrics`);
    expect(await metrics.body.text()).toMatch(
      /keyhaven_upstream_errors_total\{provider="openai",kind="timeout"\} 1/,
    );
  });

  it('ends a stream that stalls part-way and meters what was delivered', async () => {
    fixture.simulator.addFault({ provider: 'openai', chunkDelayMs: 3000, count: 1 });
    const response = await call({ ...chat, stream: true });
    expect(response.status).toBe(200);
    expect(response.elapsedMs).toBeLessThan(2900);
    expect(response.text).not.toContain('[DONE]');
    const requestId = response.headers['x-request-id'];
    const record = await fixture.usageFor(typeof requestId === 'string' ? requestId : undefined);
    expect(record.provider).toBe('openai');
    expect(record.status).not.toBe('ok');
  });

  it('passes a persistent provider 500 through in the provider format', async () => {
    fixture.simulator.addFault({ provider: 'openai', status: 500, count: 5 });
    const response = await call(chat);
    expect(response.status).toBe(500);
    expect(JSON.parse(response.text).error.message).toBeTypeOf('string');
    expect(response.headers['x-keyhaven-credential']).toBe('openai:1');
  });

  it('recovers once the fault is gone', async () => {
    const response = await call(chat);
    expect(response.status).toBe(200);
  });
});
