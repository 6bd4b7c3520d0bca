import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from './server.ts';
import type { ProviderSimulation } from './types.ts';

const retryHeaders = (seconds: number | undefined): Record<string, string> =>
  seconds === undefined ? {} : { 'retry-after': String(seconds) };

/** A minimal provider: Bearer keys, a JSON route, a stream and a job, enough to drive the core. */
const exampleSimulation: ProviderSimulation = {
  id: 'example',
  prefix: '/example',
  sdkBasePath: '/v1',
  defaultKeys: ['key-test-example'],
  extractKey: (request) => /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1],
  unauthorized: (key) => ({ status: 401, body: { error: key ? 'invalid key' : 'missing key' } }),
  error: (status, options) => ({
    status,
    headers: retryHeaders(options.retryAfterSeconds),
    body: { error: options.quotaExhausted ? 'quota' : (options.message ?? `status ${status}`) },
  }),
  routes: [
    {
      method: 'GET',
      path: '/v1/things/:id',
      handle: (context) => context.send(200, { id: context.params.id }),
    },
    {
      method: 'POST',
      path: '/v1/models/:model:generate',
      handle: (context) => context.send(200, { model: context.params.model, echo: context.json }),
    },
    {
      method: 'POST',
      path: '/v1/stream',
      handle: (context) =>
        context.stream(['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n'], {
          errorFrame: 'data: {"error":"boom"}\n\n',
        }),
    },
  ],
};

describe('simulator core', () => {
  let simulator: Simulator;
  const call = (path: string, init: RequestInit & { key?: string | null } = {}) => {
    const { key = 'key-test-example', ...rest } = init;
    return fetch(`${simulator.baseURL('example')}${path}`, {
      ...rest,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json' },
    });
  };

  beforeAll(async () => {
    simulator = await startSimulator({ providers: [exampleSimulation] });
  });
  afterAll(async () => {
    await simulator.close();
  });
  beforeEach(() => simulator.reset());

  it('routes under the provider prefix with params, including params inside a segment', async () => {
    expect(simulator.baseURL('example')).toBe(`${simulator.url}/example/v1`);
    expect(await (await call('/things/42')).json()).toEqual({ id: '42' });
    const generated = await call('/models/m-1:generate', { method: 'POST', body: JSON.stringify({ a: 1 }) });
    expect(await generated.json()).toEqual({ model: 'm-1', echo: { a: 1 } });
    expect((await call('/nothing-here')).status).toBe(404);
  });

  it('refuses missing and unknown keys in the provider format, and accepts keys added at run time', async () => {
    expect(await (await call('/things/1', { key: null })).json()).toEqual({ error: 'missing key' });
    expect((await call('/things/1', { key: 'key-test-other' })).status).toBe(401);
    const added = await fetch(`${simulator.url}/__simulator/keys`, {
      method: 'POST',
      body: JSON.stringify({ provider: 'example', key: 'key-test-other' }),
    });
    expect(added.status).toBe(204);
    expect((await call('/things/1', { key: 'key-test-other' })).status).toBe(200);
  });

  it('injects faults per key and for a counted number of requests', async () => {
    simulator.addFault({
      provider: 'example',
      key: 'key-test-example',
      status: 429,
      retryAfterSeconds: 3,
      count: 2,
    });
    simulator.addKey('example', 'key-test-second');
    const limited = await call('/things/1');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect((await call('/things/1', { key: 'key-test-second' })).status).toBe(200);
    expect((await call('/things/1')).status).toBe(429);
    expect((await call('/things/1')).status).toBe(200);
  });

  it('adds latency, stalls until the client gives up, and breaks streams part-way', async () => {
    simulator.addFault({ provider: 'example', latencyMs: 150, count: 1 });
    const started = Date.now();
    await call('/things/1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    simulator.addFault({ provider: 'example', stall: true, count: 1 });
    await expect(call('/things/1', { signal: AbortSignal.timeout(200) })).rejects.toThrow();

    simulator.addFault({ provider: 'example', midStreamErrorAfterChunks: 2, count: 1 });
    const broken = await call('/stream', { method: 'POST' });
    expect(await broken.text()).toBe('data: 1\n\ndata: 2\n\ndata: {"error":"boom"}\n\n');
    const whole = await call('/stream', { method: 'POST' });
    expect(await whole.text()).toBe('data: 1\n\ndata: 2\n\ndata: 3\n\n');
  });

  it('takes faults through the control API, validates them, and reports its state', async () => {
    const bad = await fetch(`${simulator.url}/__simulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ provider: 'example', status: 418 }),
    });
    expect(bad.status).toBe(400);
    const good = await fetch(`${simulator.url}/__simulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ provider: 'example', status: 503 }),
    });
    expect(good.status).toBe(204);
    expect((await call('/things/1')).status).toBe(503);
    const state = (await (await fetch(`${simulator.url}/__simulator/state`)).json()) as {
      faults: unknown[];
      providers: Record<string, { baseURL: string }>;
    };
    expect(state.faults).toHaveLength(1);
    expect(state.providers.example?.baseURL).toBe(simulator.baseURL('example'));
    await fetch(`${simulator.url}/__simulator/faults?provider=example`, { method: 'DELETE' });
    expect((await call('/things/1')).status).toBe(200);
  });

  it('records what reached it, for tests that check what a provider received', async () => {
    await call('/things/7');
    expect(simulator.requests.at(-1)).toMatchObject({
      provider: 'example',
      method: 'GET',
      path: '/v1/things/7',
    });
  });
});
