import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, simulatorKeys, startProviderSimulator } from '../../src/simulator/index.ts';
import { type Operation, openApiOperations } from '../support/openapi.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * The HTTP API fuzzed with fast-check: random methods, paths (taken from the OpenAPI document with
 * random parameters), bodies, content types, encodings and tokens. Whatever arrives, the answer is never
 * a 5xx, always in the error model when it is an error, and the server stays up with steady memory.
 * Runs on the embedded database only: it exercises input handling, not storage.
 */

const FUZZ_RUNS = Number(process.env.KEYHAVEN_FUZZ_RUNS ?? 300);

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

const jsonValue = fc.jsonValue({ maxDepth: 4 });
const nastyString = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.constantFrom(
    '..',
    '%',
    '%00',
    '%ff',
    '../../etc/passwd',
    '\u0000',
    'null',
    '{}',
    ' ',
    '😀',
    'a'.repeat(3000),
  ),
);
const body = fc.oneof(
  jsonValue.map((value) => ({ payload: JSON.stringify(value), contentType: 'application/json' })),
  fc.uint8Array({ maxLength: 512 }).map((bytes) => ({
    payload: Buffer.from(bytes),
    contentType: 'application/json',
  })),
  nastyString.map((text) => ({ payload: text, contentType: 'application/json' })),
  fc
    .tuple(
      fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
        'application/xml',
        'application/json; charset=latin1',
        '',
      ),
      nastyString,
    )
    .map(([contentType, text]) => ({ payload: text, contentType })),
  fc.constant(undefined),
);

describe('the HTTP API under fuzzed input', () => {
  let simulator: Simulator;
  let server: TestServer;
  let operations: Operation[];
  let userToken: string;

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    server = await startTestServer({
      target: 'pglite',
      simulator,
      options: { videoWorker: { enabled: false } },
    });
    const admin = { authorization: `Bearer ${server.adminToken}` };
    // Something to find: a stored credential and a user token, so fuzzed ids hit real rows too.
    const stored = await server.app.inject({
      method: 'PUT',
      url: '/v1/users/fuzz-user/credentials/openai',
      headers: admin,
      payload: { credentials: { apiKey: simulatorKeys().openai?.[0] ?? '' } },
    });
    expect(stored.statusCode).toBe(200);
    const minted = await server.app.inject({
      method: 'POST',
      url: '/v1/users/fuzz-user/tokens',
      headers: admin,
      payload: { ttlSeconds: 3600 },
    });
    userToken = minted.json().token;
    operations = await openApiOperations(server.app);
  });
  afterAll(async () => {
    await server?.close();
    await simulator?.close();
  });

  it('never answers a 5xx or crashes, whatever the method, path, body, headers or token', async () => {
    expect(operations.length).toBeGreaterThan(20);
    const operation = fc.oneof(
      fc.constantFrom(...operations),
      fc.record({
        method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
        path: fc.constantFrom(...operations.map((entry) => entry.path)),
      }),
    );
    const token = fc.constantFrom<'admin' | 'user' | 'none' | 'garbage'>('admin', 'user', 'none', 'garbage');
    const seen = new Map<number, number>();
    const call = fc.record({
      operation,
      params: fc.array(fc.oneof(nastyString, fc.constantFrom('fuzz-user', 'openai', 'runway')), {
        minLength: 4,
        maxLength: 4,
      }),
      query: fc.dictionary(
        fc.constantFrom('limit', 'cursor', 'from', 'to', 'groupBy', 'status', 'format', 'x'),
        nastyString,
        { maxKeys: 3 },
      ),
      body,
      token,
      extraHeaders: fc.dictionary(
        fc.constantFrom(
          'content-encoding',
          'x-keyhaven-user',
          'x-api-key',
          'x-goog-api-key',
          'accept',
          'transfer-encoding-x',
        ),
        fc
          .string({ maxLength: 40 })
          .filter((value) => !/[\r\n\0]/.test(value) && /^[\x20-\x7e]*$/.test(value)),
        { maxKeys: 2 },
      ),
    });
    const run = async () =>
      fc.assert(
        fc.asyncProperty(
          call,
          async ({ operation: { method, path }, params, query, body: sent, token, extraHeaders }) => {
            let index = 0;
            const url = path.replace(/\{\w+\}/g, () =>
              encodeURIComponent(params[index++ % params.length] ?? ''),
            );
            const search = new URLSearchParams(query).toString();
            const headers: Record<string, string> = { ...extraHeaders };
            if (token === 'admin') headers.authorization = `Bearer ${server.adminToken}`;
            if (token === 'user') headers.authorization = `Bearer ${userToken}`;
            if (token === 'garbage') headers.authorization = 'Bearer khu_zz.not-a-token';
            if (sent?.contentType) headers['content-type'] = sent.contentType;
            const response = await server.app.inject({
              method: method as 'GET',
              url: search ? `${url}?${search}` : url,
              headers,
              ...(sent && method !== 'GET' && method !== 'HEAD' ? { payload: sent.payload } : {}),
            });
            seen.set(response.statusCode, (seen.get(response.statusCode) ?? 0) + 1);
            const where = `${method} ${url} (${token}) -> ${response.statusCode} ${response.body.slice(0, 200)}`;
            expect(response.statusCode, where).toBeLessThan(500);
            // Passthrough errors from the provider keep the provider's own body (what its SDK parses).
            const fromUpstream = response.headers['x-keyhaven-credential'] !== undefined;
            if (response.statusCode >= 400 && method !== 'HEAD' && !fromUpstream) {
              expect(response.json().error.code, where).toMatch(/^[a-z_]+$/);
            }
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
    await run();
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    await run();
    await run();
    collectGarbage();
    const grown = process.memoryUsage().heapUsed - before;
    // Twice as many calls again must not leave memory behind: a few MB of noise, not a leak per call.
    expect(grown, `heap grew by ${(grown / 1e6).toFixed(1)} MB`).toBeLessThan(16e6);
    // The fuzzing reached the handlers, not only the router: some calls succeeded, many were refused.
    expect([...seen.keys()].some((status) => status < 300)).toBe(true);
    expect(seen.get(400) ?? 0).toBeGreaterThan(0);
    const health = await server.app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
  });
});
