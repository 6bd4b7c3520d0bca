import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets } from '../../test/support/databases.ts';
import { startTestServer, type TestServer } from '../../test/support/server.ts';
import { type Simulator, startProviderSimulator } from '../simulator/index.ts';
import { OPENAI_SIMULATOR_KEY } from '../simulator/providers/openai.ts';

/** The service core over HTTP, in process: error model, auth, credential lifecycle, operations routes. */
interface ErrorResponse {
  error: { code: string; message: string; requestId: string; details?: Record<string, unknown> };
}

function errorOf(response: LightMyRequestResponse): ErrorResponse['error'] {
  const body = response.json<ErrorResponse>();
  expect(body.error.requestId).toMatch(/^req_[0-9a-f]{16}$/);
  expect(response.headers['x-request-id']).toBe(body.error.requestId);
  return body.error;
}

describe.each(databaseTargets)('HTTP service on $name', ({ name }) => {
  let simulator: Simulator;
  let server: TestServer;
  let now = new Date();
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  let admin: { authorization: string };

  async function mint(userId: string, ttlSeconds?: number) {
    const response = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/tokens`,
      headers: admin,
      payload: ttlSeconds === undefined ? {} : { ttlSeconds },
    });
    expect(response.statusCode).toBe(201);
    return response.json<{ id: string; token: string; expiresAt: string }>();
  }

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    server = await startTestServer({ target: name, simulator, clock: () => now });
    admin = bearer(server.adminToken);
  });
  afterAll(async () => {
    await server?.close();
    await simulator?.close();
  });

  describe('operations', () => {
    it('answers /health and /ready without a token', async () => {
      const health = await server.app.inject({ url: '/health' });
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({ status: 'ok' });
      const ready = await server.app.inject({ url: '/ready' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready' });
    });

    it('serves the OpenAPI document listing the routes, and the /docs page', async () => {
      const response = await server.app.inject({ url: '/openapi.json' });
      expect(response.statusCode).toBe(200);
      const document = response.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
      expect(document.openapi).toBe('3.1.0');
      expect(Object.keys(document.paths)).toEqual(
        expect.arrayContaining([
          '/v1/providers',
          '/v1/users/{userId}/credentials',
          '/v1/users/{userId}/credentials/{provider}',
          '/v1/users/{userId}/credentials/{provider}/test',
          '/v1/users/{userId}',
          '/v1/users/{userId}/tokens',
          '/v1/tokens/{tokenId}',
          '/v1/admin/audit',
          '/v1/admin/audit/verify',
          '/health',
          '/ready',
        ]),
      );
      expect(Object.keys(document.paths['/v1/users/{userId}/credentials/{provider}'] ?? {})).toEqual(
        expect.arrayContaining(['get', 'put', 'delete']),
      );
      const docs = await server.app.inject({ url: '/docs' });
      const page =
        docs.statusCode === 302
          ? await server.app.inject({ url: String(docs.headers.location).replace(/^\.?\/?/, '/docs/') })
          : docs;
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
      expect(page.body).toMatch(/swagger/i);
    });

    it('counts requests by route pattern, never by raw URL', async () => {
      await server.app.inject({ url: '/v1/users/metrics-user-1/credentials', headers: admin });
      await server.app.inject({ url: '/v1/users/metrics-user-2/credentials', headers: admin });
      await server.app.inject({ url: '/no/such/route/abc123' });
      const response = await server.app.inject({ url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.body).toMatch(
        /keyhaven_http_requests_total\{method="GET",route="\/v1\/users\/:userId\/credentials",provider="",status="200"\} [2-9]/,
      );
      expect(response.body).toContain('keyhaven_http_request_duration_seconds_bucket');
      expect(response.body).toContain('route="unmatched"');
      expect(response.body).not.toContain('metrics-user-1');
      expect(response.body).not.toContain('abc123');
    });
  });

  describe('error model', () => {
    it('writes { error: { code, message, requestId } } for an unknown route', async () => {
      const response = await server.app.inject({ url: '/v1/nothing-here', headers: admin });
      expect(response.statusCode).toBe(404);
      expect(errorOf(response).code).toBe('not_found');
    });

    it('turns schema failures into 400 invalid_request naming the field, without echoing the value', async () => {
      const response = await server.app.inject({
        method: 'PUT',
        url: '/v1/users/alice/credentials/openai',
        headers: admin,
        payload: { credentials: 'sk-test-not-an-object', validate: 'sometimes' },
      });
      expect(response.statusCode).toBe(400);
      const error = errorOf(response);
      expect(error.code).toBe('invalid_request');
      expect(error.message).toContain('credentials');
      expect(error.message).toContain('validate');
      expect(response.body).not.toContain('sk-test-not-an-object');
      expect(response.body).not.toContain('sometimes');
    });

    it('answers a body that is not JSON with 400 and a message of our own', async () => {
      const response = await server.app.inject({
        method: 'PUT',
        url: '/v1/users/alice/credentials/openai',
        headers: { ...admin, 'content-type': 'application/json' },
        payload: '{"credentials": {"apiKey": "sk-test-broken-json',
      });
      expect(response.statusCode).toBe(400);
      expect(errorOf(response)).toMatchObject({ code: 'invalid_request' });
      expect(response.body).not.toContain('sk-test-broken-json');
    });

    it('answers an unknown provider with 404 unknown_provider listing the supported ones', async () => {
      const response = await server.app.inject({
        url: '/v1/users/alice/credentials/no-such-provider',
        headers: admin,
      });
      expect(response.statusCode).toBe(404);
      const error = errorOf(response);
      expect(error.code).toBe('unknown_provider');
      expect(error.details?.supported).toContain('openai');
    });

    it('answers a bad user id with 400', async () => {
      const response = await server.app.inject({ url: '/v1/users/%20bad%20id/credentials', headers: admin });
      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe('invalid_request');
    });
  });

  describe('auth', () => {
    const userRoutes = (userId: string) => [
      { method: 'GET' as const, url: `/v1/users/${userId}/credentials` },
      { method: 'GET' as const, url: `/v1/users/${userId}/credentials/openai` },
      {
        method: 'PUT' as const,
        url: `/v1/users/${userId}/credentials/openai`,
        payload: { credentials: { apiKey: OPENAI_SIMULATOR_KEY }, validate: false },
      },
      { method: 'POST' as const, url: `/v1/users/${userId}/credentials/openai/test` },
      { method: 'DELETE' as const, url: `/v1/users/${userId}/credentials/openai` },
      { method: 'DELETE' as const, url: `/v1/users/${userId}` },
      { method: 'POST' as const, url: `/v1/users/${userId}/tokens`, payload: {} },
    ];

    it('refuses a missing, malformed or wrong token with 401 on every /v1 route', async () => {
      const routes = [
        { method: 'GET' as const, url: '/v1/providers' },
        ...userRoutes('alice'),
        { method: 'GET' as const, url: '/v1/admin/audit' },
        { method: 'DELETE' as const, url: '/v1/tokens/khu_000000000000000000000000' },
      ];
      const wrongTokens = [
        undefined,
        'Basic YWxpY2U6c2VjcmV0',
        'Bearer kha_not-the-admin-token',
        'Bearer khu_000000000000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ];
      for (const route of routes) {
        for (const authorization of wrongTokens) {
          const response = await server.app.inject({
            ...route,
            headers: authorization === undefined ? {} : { authorization },
          });
          expect(response.statusCode, `${route.method} ${route.url} with ${authorization}`).toBe(401);
          expect(errorOf(response).code).toBe('unauthorized');
        }
      }
    });

    it('accepts a user token only for its own user; every other user is 404', async () => {
      const { token } = await mint('bob');
      const ownList = await server.app.inject({ url: '/v1/users/bob/credentials', headers: bearer(token) });
      expect(ownList.statusCode).toBe(200);
      for (const route of userRoutes('carol')) {
        const response = await server.app.inject({ ...route, headers: bearer(token) });
        expect(response.statusCode, `${route.method} ${route.url}`).toBe(404);
        expect(errorOf(response).code).toBe('not_found');
      }
      for (const url of ['/v1/admin/audit', '/v1/admin/audit/verify']) {
        const response = await server.app.inject({ url, headers: bearer(token) });
        expect(response.statusCode, url).toBe(404);
      }
      const mintOwn = await server.app.inject({
        method: 'POST',
        url: '/v1/users/bob/tokens',
        headers: bearer(token),
        payload: {},
      });
      expect(mintOwn.statusCode).toBe(404);
    });

    it("refuses a user token after its TTL, and revoking another user's token is 404", async () => {
      const minted = await mint('dave', 60);
      expect(Date.parse(minted.expiresAt) - now.getTime()).toBe(60_000);
      const other = await mint('erin');
      const foreign = await server.app.inject({
        method: 'DELETE',
        url: `/v1/tokens/${other.id}`,
        headers: bearer(minted.token),
      });
      expect(foreign.statusCode).toBe(404);
      const stillGood = await server.app.inject({
        url: '/v1/users/erin/credentials',
        headers: bearer(other.token),
      });
      expect(stillGood.statusCode).toBe(200);

      const start = now;
      now = new Date(start.getTime() + 61_000);
      try {
        const expired = await server.app.inject({
          url: '/v1/users/dave/credentials',
          headers: bearer(minted.token),
        });
        expect(expired.statusCode).toBe(401);
        expect(errorOf(expired).code).toBe('unauthorized');
      } finally {
        now = start;
      }
    });

    it('revokes a token (by its own user or the admin) so it is refused from then on', async () => {
      const first = await mint('frank');
      const revoke = await server.app.inject({
        method: 'DELETE',
        url: `/v1/tokens/${first.id}`,
        headers: bearer(first.token),
      });
      expect(revoke.statusCode).toBe(204);
      const after = await server.app.inject({
        url: '/v1/users/frank/credentials',
        headers: bearer(first.token),
      });
      expect(after.statusCode).toBe(401);

      const second = await mint('frank');
      const byAdmin = await server.app.inject({
        method: 'DELETE',
        url: `/v1/tokens/${second.id}`,
        headers: admin,
      });
      expect(byAdmin.statusCode).toBe(204);
      const refused = await server.app.inject({
        url: '/v1/users/frank/credentials',
        headers: bearer(second.token),
      });
      expect(refused.statusCode).toBe(401);
    });

    it('bounds the TTL of a user token', async () => {
      for (const ttlSeconds of [0, 59, 30 * 24 * 3600 + 1, 1.5]) {
        const response = await server.app.inject({
          method: 'POST',
          url: '/v1/users/grace/tokens',
          headers: admin,
          payload: { ttlSeconds },
        });
        expect(response.statusCode, String(ttlSeconds)).toBe(400);
      }
      const minted = await mint('grace');
      expect(Date.parse(minted.expiresAt) - now.getTime()).toBe(3_600_000);
      expect(minted.token).toMatch(/^khu_[0-9a-f]{24}\.[A-Za-z0-9_-]{43}$/);
      expect(minted.token.startsWith(`${minted.id}.`)).toBe(true);
    });
  });

  describe('credentials', () => {
    it('lists the catalog of 8 providers', async () => {
      const response = await server.app.inject({ url: '/v1/providers', headers: admin });
      expect(response.statusCode).toBe(200);
      const { providers } = response.json<{ providers: { id: string; status: { state: string } }[] }>();
      expect(providers.map((provider) => provider.id)).toHaveLength(8);
      expect(providers.map((provider) => provider.id)).toContain('openai');
    });

    it('stores, reads, tests and deletes a credential with a user token, never returning the secret', async () => {
      const { token } = await mint('henry');
      const headers = bearer(token);
      const put = await server.app.inject({
        method: 'PUT',
        url: '/v1/users/henry/credentials/openai',
        headers,
        payload: { credentials: { apiKey: OPENAI_SIMULATOR_KEY } },
      });
      expect(put.statusCode).toBe(200);
      expect(put.json()).toMatchObject({ provider: 'openai', connected: true, status: 'valid', version: 1 });
      expect(put.body).not.toContain(OPENAI_SIMULATOR_KEY);

      const list = await server.app.inject({ url: '/v1/users/henry/credentials', headers });
      const summaries = list.json<{ credentials: { provider: string; connected: boolean }[] }>().credentials;
      expect(summaries).toHaveLength(8);
      expect(summaries.filter((summary) => summary.connected).map((summary) => summary.provider)).toEqual([
        'openai',
      ]);

      const tested = await server.app.inject({
        method: 'POST',
        url: '/v1/users/henry/credentials/openai/test',
        headers,
      });
      expect(tested.statusCode).toBe(200);
      expect(tested.json()).toMatchObject({ result: { status: 'valid' }, summary: { status: 'valid' } });

      const removed = await server.app.inject({
        method: 'DELETE',
        url: '/v1/users/henry/credentials/openai',
        headers,
      });
      expect(removed.statusCode).toBe(204);
      const gone = await server.app.inject({ url: '/v1/users/henry/credentials/openai', headers });
      expect(gone.json()).toMatchObject({ connected: false, maskedKey: null });
      const again = await server.app.inject({
        method: 'DELETE',
        url: '/v1/users/henry/credentials/openai',
        headers,
      });
      expect(again.statusCode).toBe(404);
      expect(errorOf(again).code).toBe('not_found');
    });

    it("refuses a key the provider rejects with 422 and the provider's reason, and stores nothing", async () => {
      const response = await server.app.inject({
        method: 'PUT',
        url: '/v1/users/irene/credentials/openai',
        headers: admin,
        payload: { credentials: { apiKey: 'sk-test-rejected-by-simulator' } },
      });
      expect(response.statusCode).toBe(422);
      const error = errorOf(response);
      expect(error.code).toBe('credential_invalid');
      expect(typeof error.details?.reason).toBe('string');
      expect(error.message).toContain(String(error.details?.reason));
      expect(response.body).not.toContain('sk-test-rejected-by-simulator');
      const summary = await server.app.inject({ url: '/v1/users/irene/credentials/openai', headers: admin });
      expect(summary.json()).toMatchObject({ connected: false });
    });

    it('stores without validation when asked (unverified)', async () => {
      const response = await server.app.inject({
        method: 'PUT',
        url: '/v1/users/judy/credentials/anthropic',
        headers: admin,
        payload: { credentials: { apiKey: 'sk-ant-test-unverified-key' }, validate: false },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ status: 'unverified', connected: true });
    });

    it('shreds a user: credentials gone and their tokens refused', async () => {
      const { token } = await mint('kate');
      await server.app.inject({
        method: 'PUT',
        url: '/v1/users/kate/credentials/openai',
        headers: admin,
        payload: { credentials: { apiKey: OPENAI_SIMULATOR_KEY } },
      });
      const shred = await server.app.inject({
        method: 'DELETE',
        url: '/v1/users/kate',
        headers: bearer(token),
      });
      expect(shred.statusCode).toBe(204);
      const list = await server.app.inject({ url: '/v1/users/kate/credentials', headers: admin });
      expect(
        list
          .json<{ credentials: { connected: boolean }[] }>()
          .credentials.every((summary) => !summary.connected),
      ).toBe(true);
      const refused = await server.app.inject({ url: '/v1/users/kate/credentials', headers: bearer(token) });
      expect(refused.statusCode).toBe(401);
    });

    it('lists and verifies the audit log for the admin, with the actor of each call', async () => {
      const list = await server.app.inject({ url: '/v1/admin/audit?userId=henry&limit=50', headers: admin });
      expect(list.statusCode).toBe(200);
      const events = list.json<{ events: { action: string; actor: string; userId: string }[] }>().events;
      expect(events.find((event) => event.action === 'credential.store')).toMatchObject({
        actor: 'user:henry',
        userId: 'henry',
      });
      expect(events.every((event) => event.userId === 'henry')).toBe(true);
      const verify = await server.app.inject({ url: '/v1/admin/audit/verify', headers: admin });
      expect(verify.statusCode).toBe(200);
      expect(verify.json()).toMatchObject({ ok: true });
      const bad = await server.app.inject({ url: '/v1/admin/audit?limit=5000', headers: admin });
      expect(bad.statusCode).toBe(400);
    });
  });
});
