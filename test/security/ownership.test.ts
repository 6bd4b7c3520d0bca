import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, simulatorKeys, startProviderSimulator } from '../../src/simulator/index.ts';
import { databaseTargets } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Security: another user's resource does not exist. For random pairs of users (A owns things, B holds a
 * user token), every route of the OpenAPI document that names a user or a resource is called with B's
 * token and A's ids: the answer is always 404, and A's things are unchanged afterwards. Routes are taken
 * from /openapi.json, so a route added later is covered without editing this test.
 */
type Operation = { method: string; path: string };

/** Routes any user token may call that name nobody: the catalog. */
const OPEN_TO_EVERY_USER = new Set(['GET /v1/providers']);

/** A plausible body per route, so B's call is refused for ownership, not for a malformed body. */
function bodyFor({ method, path }: Operation): unknown {
  if (method === 'PUT' && path.endsWith('/credentials/{provider}')) {
    return { credentials: { apiKey: 'sk-test-not-a-real-key' }, validate: false };
  }
  if (method === 'POST' && path.endsWith('/tokens')) return { ttlSeconds: 600 };
  if (method === 'POST' && path.endsWith('/videos')) return { provider: 'runway', prompt: 'a lighthouse' };
  if (method === 'POST' && path.endsWith('/videos/batch')) {
    return { requests: [{ provider: 'runway', prompt: 'a lighthouse' }] };
  }
  if (method === 'PUT' && path.endsWith('/budget')) return { amountUsd: 10, thresholds: [50], mode: 'hard' };
  if (method === 'POST' && path === '/v1/webhooks') return { url: 'https://example.com/hook' };
  return undefined;
}

const userId = fc
  .stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,20}$/)
  .filter((id) => id !== '.' && !id.includes('..'));

describe.each(databaseTargets)('ownership over every route on $name', ({ name }) => {
  let simulator: Simulator;
  let server: TestServer;
  let operations: Operation[];
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    server = await startTestServer({
      target: name,
      simulator,
      env: { KEYHAVEN_ALLOW_PRIVATE_URLS: 'true' },
      // A's video jobs stay queued: a worker running them would use A's credential (lastUsedAt moves),
      // which the "nothing of A's changed" check below must keep attributing to B alone.
      options: { videoWorker: { enabled: false } },
    });
    const document = (await server.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((method) => ['get', 'put', 'post', 'delete', 'patch'].includes(method))
        .map((method) => ({ method: method.toUpperCase(), path })),
    );
  });
  afterAll(async () => {
    await server?.close();
    await simulator?.close();
  });

  async function mint(user: string): Promise<{ id: string; token: string }> {
    const response = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${encodeURIComponent(user)}/tokens`,
      headers: admin(),
      payload: { ttlSeconds: 600 },
    });
    expect(response.statusCode).toBe(201);
    return response.json();
  }

  /** Gives A a credential, a token and (when the routes exist) a video job; returns A's resource ids. */
  async function ownThings(user: string): Promise<{ ids: Record<string, string>; token: string }> {
    const path = `/v1/users/${encodeURIComponent(user)}`;
    const stored = await server.app.inject({
      method: 'PUT',
      url: `${path}/credentials/runway`,
      headers: admin(),
      payload: { credentials: { apiKey: simulatorKeys().runway?.[0] ?? '' }, validate: false },
    });
    expect(stored.statusCode).toBe(200);
    const token = await mint(user);
    const ids: Record<string, string> = { tokenId: token.id, provider: 'runway' };
    if (operations.some((operation) => operation.path === '/v1/users/{userId}/videos')) {
      const video = await server.app.inject({
        method: 'POST',
        url: `${path}/videos`,
        headers: admin(),
        payload: { provider: 'runway', prompt: 'a lighthouse at dusk' },
      });
      expect(video.statusCode).toBe(202);
      const videoId: string = video.json().id;
      ids.id = videoId;
      ids.videoId = videoId;
    }
    return { ids, token: token.token };
  }

  /** A's ids in the path; a parameter A owns nothing for (an admin resource) gets a made-up id. */
  function fill(path: string, ids: Record<string, string>, owner: string): string {
    return path.replace(/\{(\w+)\}/g, (_match, param: string) =>
      encodeURIComponent(param === 'userId' ? owner : (ids[param] ?? `${param}_0123456789abcdef`)),
    );
  }

  it('answers 404 to another user on every route that names a user or a resource', async () => {
    const guarded = operations.filter(
      ({ method, path }) =>
        path.startsWith('/v1/') &&
        !OPEN_TO_EVERY_USER.has(`${method} ${path}`) &&
        // The passthrough identifies its user by the token itself; it has its own isolation test below.
        !/^\/v1\/(openai|anthropic|gemini|mistral)\//.test(path),
    );
    expect(guarded.length).toBeGreaterThanOrEqual(9);
    const checked = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(userId, userId).filter(([a, b]) => a !== b),
        async ([a, b]) => {
          const { ids, token } = await ownThings(a);
          const other = await mint(b);
          const before = await server.app.inject({
            method: 'GET',
            url: `/v1/users/${encodeURIComponent(a)}/credentials/runway`,
            headers: admin(),
          });
          for (const operation of guarded) {
            const url = fill(operation.path, ids, a);
            const body = bodyFor(operation);
            const response = await server.app.inject({
              method: operation.method as 'GET',
              url,
              headers: { authorization: `Bearer ${other.token}` },
              ...(body === undefined ? {} : { payload: body as object }),
            });
            expect(response.statusCode, `${operation.method} ${operation.path} as another user`).toBe(404);
            expect(response.json().error.code).toBe('not_found');
            checked.add(`${operation.method} ${operation.path}`);
          }
          // Nothing of A's changed: the credential, its token and its summary are as they were.
          const after = await server.app.inject({
            method: 'GET',
            url: `/v1/users/${encodeURIComponent(a)}/credentials/runway`,
            headers: admin(),
          });
          expect(after.json()).toEqual(before.json());
          const stillWorks = await server.app.inject({
            method: 'GET',
            url: `/v1/users/${encodeURIComponent(a)}/credentials`,
            headers: { authorization: `Bearer ${token}` },
          });
          expect(stillWorks.statusCode, "A's token after B's attempts").toBe(200);
        },
      ),
      { numRuns: 4 },
    );
    expect(checked.size).toBe(guarded.length);
  });
});
