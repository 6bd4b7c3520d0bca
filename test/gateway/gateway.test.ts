import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startProviderSimulator } from '../../src/simulator/index.ts';
import { databaseTargets } from '../support/databases.ts';
import { closedPortURL } from '../support/providers.ts';
import { type GatewayFixture, simulatorKey, startGateway } from './support.ts';

/**
 * The gateway's own behaviour over a real port: where tokens are accepted, which headers reach the
 * provider, refusals in the error model (no credential, our rate limit, an unreachable provider),
 * retries before the first byte, a client that hangs up mid-stream, secrets kept out of logs and
 * responses, and a shutdown that lets a running stream finish.
 *
 * Providers: OpenAI and Anthropic are the simulator; Gemini is a small server of this file that streams
 * slowly and tells whether its request was aborted; Mistral is a port nothing listens on.
 */
interface Captured {
  headers: IncomingMessage['headers'];
  url: string;
  aborted: boolean;
}

async function startSlowGemini(): Promise<{ server: Server; url: string; requests: Captured[] }> {
  const requests: Captured[] = [];
  const server = createServer((incoming, response) => {
    const captured: Captured = { headers: incoming.headers, url: incoming.url ?? '', aborted: false };
    requests.push(captured);
    incoming.resume();
    response.on('close', () => {
      if (!response.writableFinished) captured.aborted = true;
    });
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    let sent = 0;
    const timer = setInterval(() => {
      sent += 1;
      const chunk = {
        candidates: [{ content: { role: 'model', parts: [{ text: `word${sent} ` }] } }],
        usageMetadata: { promptTokenCount: 4, candidatesTokenCount: sent, totalTokenCount: 4 + sent },
        modelVersion: 'gemini-2.5-flash',
      };
      response.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
      if (sent === 40) {
        clearInterval(timer);
        response.end();
      }
    }, 25);
    response.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, requests };
}

const canary = `sk-test-CANARY-${randomBytes(12).toString('hex')}`;

describe.each(databaseTargets)('the gateway on $name', ({ name }) => {
  let fixture: GatewayFixture;
  let gemini: Awaited<ReturnType<typeof startSlowGemini>>;
  const bodies: string[] = [];

  beforeAll(async () => {
    gemini = await startSlowGemini();
    const simulator = await startProviderSimulator({ port: 0, keys: { openai: [canary] } });
    fixture = await startGateway({
      target: name,
      simulator,
      env: {
        KEYHAVEN_GOOGLE_GEMINI_BASE_URL: gemini.url,
        KEYHAVEN_MISTRAL_BASE_URL: await closedPortURL(),
        KEYHAVEN_RATE_LIMITS: JSON.stringify({
          openai: { perMinute: 10_000 },
          anthropic: { perMinute: 10_000 },
          'google-gemini': { perMinute: 10_000 },
          mistral: { perMinute: 2 },
        }),
      },
    });
  });
  afterAll(async () => {
    await fixture?.close();
    await fixture?.simulator.close();
    await new Promise((resolve) => gemini?.server.close(resolve));
  });
  afterEach(() => fixture.simulator.clearFaults());

  /** A user with credentials stored without validation (Gemini and Mistral are not the simulator here). */
  async function userWith(credentials: Record<string, string>) {
    const { userId, token } = await fixture.user([]);
    for (const [provider, apiKey] of Object.entries(credentials)) {
      await fixture.server.keyhaven.vault.store({
        userId,
        provider,
        credentials: { apiKey },
        validate: false,
      });
    }
    return { userId, token };
  }

  async function call(
    path: string,
    {
      method = 'POST',
      headers = {},
      body,
    }: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  ) {
    const response = await request(`${fixture.url}${path}`, {
      method: method as 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    bodies.push(text, JSON.stringify(response.headers));
    return { status: response.statusCode, headers: response.headers, text, json: () => JSON.parse(text) };
  }

  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say this is a test!' }] };
  const message = { model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'Hi' }] };

  describe('tokens', () => {
    it('accepts a user token only where the provider SDK puts its key', async () => {
      const { token } = await userWith({
        openai: simulatorKey('openai'),
        anthropic: simulatorKey('anthropic'),
      });
      const bearer = await call('/v1/openai/chat/completions', {
        headers: { authorization: `Bearer ${token}` },
        body: chat,
      });
      expect(bearer.status).toBe(200);
      expect(bearer.headers['x-keyhaven-credential']).toBe('openai:1');

      const wrongPlace = await call('/v1/openai/chat/completions', {
        headers: { 'x-api-key': token },
        body: chat,
      });
      expect(wrongPlace.status).toBe(401);
      expect(wrongPlace.json()).toMatchObject({
        error: { code: 'unauthorized', requestId: expect.any(String) },
      });

      const anthropic = await call('/v1/anthropic/v1/messages', {
        headers: { 'x-api-key': token },
        body: message,
      });
      expect(anthropic.status).toBe(200);
      expect(anthropic.headers['x-keyhaven-credential']).toBe('anthropic:1');
      // The Anthropic SDK's authToken option sends a bearer token instead.
      const anthropicBearer = await call('/v1/anthropic/v1/messages', {
        headers: { authorization: `Bearer ${token}` },
        body: message,
      });
      expect(anthropicBearer.status).toBe(200);

      const inQuery = await call(`/v1/gemini/v1beta/models/gemini-2.5-flash:generateContent?key=${token}`, {
        body: {},
      });
      expect(inQuery.status).toBe(401);
    });

    it('refuses unknown and revoked tokens in the error model', async () => {
      const unknown = await call('/v1/openai/models', {
        method: 'GET',
        headers: { authorization: `Bearer khu_${'0'.repeat(24)}.${'A'.repeat(43)}` },
      });
      expect(unknown.status).toBe(401);
      expect(unknown.json()).toEqual({
        error: { code: 'unauthorized', message: expect.any(String), requestId: expect.any(String) },
      });
    });

    it('uses only the token owner credential; naming another user finds nothing', async () => {
      const owner = await userWith({ openai: simulatorKey('openai') });
      const other = await userWith({ openai: canary });
      const naming = await call('/v1/openai/chat/completions', {
        headers: { authorization: `Bearer ${owner.token}`, 'x-keyhaven-user': other.userId },
        body: chat,
      });
      expect(naming.status).toBe(404);
      const before = fixture.simulator.requests.length;
      const own = await call('/v1/openai/chat/completions', {
        headers: { authorization: `Bearer ${owner.token}` },
        body: chat,
      });
      expect(own.status).toBe(200);
      expect(fixture.simulator.requests.slice(before).map((entry) => entry.headers.authorization)).toEqual([
        `Bearer ${simulatorKey('openai')}`,
      ]);
    });

    it('takes the admin token with x-keyhaven-user, and refuses it without', async () => {
      const { userId } = await userWith({ openai: canary });
      const admin = { authorization: `Bearer ${fixture.server.adminToken}` };
      const missing = await call('/v1/openai/chat/completions', { headers: admin, body: chat });
      expect(missing.status).toBe(400);
      expect(missing.json().error).toMatchObject({
        code: 'invalid_request',
        message: expect.stringContaining('x-keyhaven-user'),
      });
      const named = await call('/v1/openai/chat/completions', {
        headers: { ...admin, 'x-keyhaven-user': userId },
        body: chat,
      });
      expect(named.status).toBe(200);
      expect(fixture.simulator.requests.at(-1)?.headers.authorization).toBe(`Bearer ${canary}`);
    });
  });

  it('strips every client credential and x-keyhaven-* header, injects the key, forwards the rest', async () => {
    const { token } = await userWith({ anthropic: simulatorKey('anthropic') });
    const before = fixture.simulator.requests.length;
    const response = await call('/v1/anthropic/v1/messages?beta=true', {
      headers: {
        'x-api-key': token,
        authorization: 'Bearer client-own-secret',
        cookie: 'session=client-own-cookie',
        'x-goog-api-key': 'client-goog-secret',
        'x-keyhaven-user': 'ignored-by-upstream',
        'x-keyhaven-debug': '1',
        'x-client-trace': 'trace-123',
        'anthropic-beta': 'prompt-caching-2024-07-31',
      },
      body: message,
    });
    expect(response.status).toBe(404); // x-keyhaven-user names another user: the request never left
    expect(fixture.simulator.requests.length).toBe(before);

    await call('/v1/anthropic/v1/messages?beta=true', {
      headers: {
        'x-api-key': token,
        authorization: 'Bearer client-own-secret',
        cookie: 'session=client-own-cookie',
        'x-goog-api-key': 'client-goog-secret',
        'x-keyhaven-debug': '1',
        'x-client-trace': 'trace-123',
        'anthropic-beta': 'prompt-caching-2024-07-31',
      },
      body: message,
    });
    const sent = fixture.simulator.requests.at(-1);
    expect(sent?.path).toBe('/v1/messages?beta=true');
    expect(sent?.headers['x-api-key']).toBe(simulatorKey('anthropic'));
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent?.headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
    expect(sent?.headers['x-client-trace']).toBe('trace-123');
    for (const name of ['authorization', 'cookie', 'x-goog-api-key', 'x-keyhaven-debug']) {
      expect(sent?.headers[name], name).toBeUndefined();
    }
    expect(JSON.stringify(sent?.headers)).not.toContain(token.split('.')[1]);
    expect(JSON.parse(sent?.body ?? '{}')).toEqual(message);
  });

  it('answers 409 credential_missing naming the provider when the user has none', async () => {
    const { token } = await userWith({ openai: simulatorKey('openai') });
    const response = await call('/v1/anthropic/v1/messages', {
      headers: { 'x-api-key': token },
      body: message,
    });
    expect(response.status).toBe(409);
    expect(response.json().error).toMatchObject({
      code: 'credential_missing',
      message: expect.stringContaining('anthropic'),
    });
  });

  it('retries an upstream 503 that came before any byte, and the client sees only the success', async () => {
    const { token } = await userWith({ openai: simulatorKey('openai') });
    fixture.simulator.addFault({ provider: 'openai', status: 503, count: 1 });
    const before = fixture.simulator.requests.length;
    const response = await call('/v1/openai/chat/completions', {
      headers: { authorization: `Bearer ${token}` },
      body: chat,
    });
    expect(response.status).toBe(200);
    expect(response.json().choices[0].message.content).toMatch(/^Simulated reply/);
    expect(fixture.simulator.requests.length - before).toBe(2);
    const metrics = await call('/metrics', { method: 'GET' });
    expect(metrics.text).toMatch(/keyhaven_upstream_errors_total\{provider="openai",kind="503"\} [1-9]/);
  });

  it('answers 503 provider_unavailable when the provider cannot be reached, then 429 rate_limited with Retry-After', async () => {
    const { token } = await userWith({ mistral: 'sk-test-mistral-unreachable' });
    const headers = { authorization: `Bearer ${token}` };
    const mistralChat = { model: 'mistral-small-latest', messages: chat.messages };
    for (let index = 0; index < 2; index += 1) {
      const unreachable = await call('/v1/mistral/v1/chat/completions', { headers, body: mistralChat });
      expect(unreachable.status).toBe(503);
      expect(unreachable.json().error).toMatchObject({ code: 'provider_unavailable' });
      expect(unreachable.headers['x-keyhaven-credential']).toBe('mistral:1');
      expect(unreachable.text).not.toMatch(/ECONNREFUSED|at .*\.ts/);
    }
    const limited = await call('/v1/mistral/v1/chat/completions', { headers, body: mistralChat });
    expect(limited.status).toBe(429);
    expect(limited.json().error).toMatchObject({ code: 'rate_limited' });
    expect(limited.headers['x-keyhaven-credential']).toBe('mistral:1');
    const wait = Number(limited.headers['retry-after']);
    expect(Number.isInteger(wait)).toBe(true);
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    const metrics = (await call('/metrics', { method: 'GET' })).text;
    expect(metrics).toMatch(/keyhaven_rate_limited_total\{provider="mistral",source="keyhaven"\} 1/);
    // Each unreachable call was tried three times.
    expect(metrics).toMatch(/keyhaven_upstream_errors_total\{provider="mistral",kind="connect"\} 6/);
  });

  it('aborts the upstream stream when the client hangs up, and meters what was delivered', async () => {
    const { userId, token } = await userWith({ 'google-gemini': 'gemini-key-for-slow-server' });
    const response = await request(
      `${fixture.url}/v1/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=client-key`,
      {
        method: 'POST',
        headers: { 'x-goog-api-key': token, 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
      },
    );
    expect(response.statusCode).toBe(200);
    const requestId = response.headers['x-request-id'] as string;
    let received = '';
    for await (const chunk of response.body) {
      received += chunk.toString();
      if ((received.match(/usageMetadata/g) ?? []).length >= 3) break;
    }
    response.body.destroy();
    const record = await fixture.usageFor(requestId, 3_000);
    const upstream = gemini.requests.at(-1);
    expect(upstream?.url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(upstream?.headers['x-goog-api-key']).toBe('gemini-key-for-slow-server');
    await expect.poll(() => upstream?.aborted, { timeout: 2_000 }).toBe(true);
    expect(record).toMatchObject({
      userId,
      provider: 'google-gemini',
      model: 'gemini-2.5-flash',
      aborted: true,
      inputTokens: 4,
    });
    expect(record.outputTokens).toBeGreaterThanOrEqual(3);
    expect(record.outputTokens).toBeLessThan(40);
  });

  it('never puts the user key in a log line or a response, even when the provider echoes it', async () => {
    const { token } = await userWith({ openai: canary });
    const headers = { authorization: `Bearer ${token}` };
    await call('/v1/openai/chat/completions', { headers, body: chat });
    await call('/v1/openai/chat/completions', { headers, body: { ...chat, stream: true } });
    fixture.simulator.addFault({ provider: 'openai', status: 401, count: 1 });
    await call('/v1/openai/chat/completions', { headers, body: chat });
    await call('/v1/openai/models', { method: 'GET', headers });
    const logs = fixture.server.logs();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(canary);
    expect(logs).not.toContain(token.split('.')[1]);
    for (const text of bodies) expect(text).not.toContain(canary);
  });

  // Last: it closes the server.
  it('lets a running stream finish when the server closes', async () => {
    const { token } = await userWith({ openai: simulatorKey('openai') });
    fixture.simulator.addFault({ provider: 'openai', chunkDelayMs: 20 });
    const response = await request(`${fixture.url}/v1/openai/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...chat, stream: true }),
    });
    expect(response.statusCode).toBe(200);
    const iterator = response.body[Symbol.asyncIterator]();
    let received = String((await iterator.next()).value ?? '');
    const closing = fixture.server.app.close();
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      received += String(next.value);
    }
    await closing;
    expect(received.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const text = received
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '')
      .join('');
    expect(text).toMatch(/^Simulated reply from the Keyhaven provider simulator/);
    expect(received).not.toContain('"usage"');
  });
});
