import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets } from '../../test/support/databases.ts';
import { startTestServer, type TestServer } from '../../test/support/server.ts';
import { type Simulator, simulatorKeys, startProviderSimulator } from '../simulator/index.ts';

/** The dashboard's admin views, in process: counts, the user list and its search, daily usage, videos. */
describe.each(databaseTargets)('admin routes on $name', ({ name }) => {
  let simulator: Simulator;
  let server: TestServer;
  let admin: { authorization: string };
  let userToken: string;

  const key = (provider: string) => simulatorKeys()[provider]?.[0] ?? '';

  async function store(userId: string, provider: string, apiKey: string) {
    return server.app.inject({
      method: 'PUT',
      url: `/v1/users/${userId}/credentials/${provider}`,
      headers: admin,
      payload: { credentials: { apiKey } },
    });
  }

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    server = await startTestServer({ target: name, simulator });
    admin = { authorization: `Bearer ${server.adminToken}` };
    expect((await store('alice@example.com', 'openai', key('openai'))).statusCode).toBe(200);
    expect((await store('alice@example.com', 'anthropic', key('anthropic'))).statusCode).toBe(200);
    expect((await store('bob_1', 'openai', key('openai'))).statusCode).toBe(200);
    // Stored unvalidated, then found invalid by a test: one invalid credential.
    const unchecked = await server.app.inject({
      method: 'PUT',
      url: '/v1/users/bob_1/credentials/mistral',
      headers: admin,
      payload: { credentials: { apiKey: 'not-a-key-the-simulator-knows' }, validate: false },
    });
    expect(unchecked.statusCode).toBe(200);
    await server.app.inject({
      method: 'POST',
      url: '/v1/users/bob_1/credentials/mistral/test',
      headers: admin,
    });
    const minted = await server.app.inject({
      method: 'POST',
      url: '/v1/users/carol/tokens',
      headers: admin,
      payload: {},
    });
    userToken = minted.json<{ token: string }>().token;
    const alice = await server.app.inject({
      method: 'POST',
      url: '/v1/users/alice@example.com/tokens',
      headers: admin,
      payload: {},
    });
    const aliceToken = alice.json<{ token: string }>().token;
    for (let index = 0; index < 3; index++) {
      const chat = await server.app.inject({
        method: 'POST',
        url: '/v1/openai/chat/completions',
        headers: { authorization: `Bearer ${aliceToken}` },
        payload: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] },
      });
      expect(chat.statusCode).toBe(200);
    }
  });
  afterAll(async () => {
    await server?.close();
    await simulator?.close();
  });

  it('counts users, credentials by status and provider, and this month’s requests', async () => {
    const response = await server.app.inject({ url: '/v1/admin/overview', headers: admin });
    expect(response.statusCode).toBe(200);
    const overview = response.json();
    expect(overview.users).toBe(3);
    expect(overview.activeTokens).toBe(2);
    expect(overview.credentials).toMatchObject({ total: 4, valid: 3, invalid: 1, unverified: 0 });
    expect(overview.credentials.byProvider).toContainEqual({
      provider: 'openai',
      total: 2,
      valid: 2,
      invalid: 0,
      unverified: 0,
    });
    expect(overview.month.requests).toBe(3);
    expect(overview.month.costUsd).toBeGreaterThan(0);
    expect(overview.month.from).toMatch(/^\d{4}-\d{2}-01$/);
    expect(overview.videos).toEqual({ queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 });
  });

  it('lists users with their counts, and searches literally and case-insensitively', async () => {
    const all = await server.app.inject({ url: '/v1/admin/users', headers: admin });
    expect(all.statusCode).toBe(200);
    const body = all.json();
    expect(body.total).toBe(3);
    expect(body.users.map((user: { userId: string }) => user.userId)).toEqual([
      'alice@example.com',
      'bob_1',
      'carol',
    ]);
    expect(body.users[0]).toMatchObject({ credentials: 2, invalidCredentials: 0, monthRequests: 3 });
    expect(body.users[1]).toMatchObject({ credentials: 2, invalidCredentials: 1, monthRequests: 0 });
    expect(body.users[2]).toMatchObject({ credentials: 0, lastActivityAt: null });

    const search = await server.app.inject({ url: '/v1/admin/users?search=ALICE', headers: admin });
    expect(search.json().users.map((user: { userId: string }) => user.userId)).toEqual(['alice@example.com']);
    // `_` is a LIKE wildcard: matched literally here, so only bob_1.
    const underscore = await server.app.inject({ url: '/v1/admin/users?search=_', headers: admin });
    expect(underscore.json()).toMatchObject({ total: 1, users: [{ userId: 'bob_1' }] });
    const paged = await server.app.inject({ url: '/v1/admin/users?limit=1&offset=1', headers: admin });
    expect(paged.json()).toMatchObject({ total: 3, users: [{ userId: 'bob_1' }] });
  });

  it('gives usage per day, provider and model for charts', async () => {
    const response = await server.app.inject({ url: '/v1/admin/usage/daily', headers: admin });
    expect(response.statusCode).toBe(200);
    const { rows } = response.json();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      day: new Date().toISOString().slice(0, 10),
      provider: 'openai',
      model: 'gpt-4o-mini',
      requests: 3,
    });
    const other = await server.app.inject({ url: '/v1/admin/usage/daily?userId=bob_1', headers: admin });
    expect(other.json().rows).toEqual([]);
    const bad = await server.app.inject({
      url: '/v1/admin/usage/daily?from=2026-02-01&to=2026-01-01',
      headers: admin,
    });
    expect(bad.statusCode).toBe(400);
  });

  it('lists every user’s video jobs with their attempts', async () => {
    const submitted = await server.app.inject({
      method: 'PUT',
      url: '/v1/users/dave/credentials/runway',
      headers: admin,
      payload: { credentials: { apiKey: key('runway') } },
    });
    expect(submitted.statusCode).toBe(200);
    const job = await server.app.inject({
      method: 'POST',
      url: '/v1/users/dave/videos',
      headers: admin,
      payload: { provider: 'runway', prompt: 'A lighthouse at dusk' },
    });
    expect(job.statusCode).toBe(202);
    const response = await server.app.inject({ url: '/v1/admin/videos?limit=10', headers: admin });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.jobs).toHaveLength(1);
    expect(body.jobs[0]).toMatchObject({
      userId: 'dave',
      provider: 'runway',
      prompt: 'A lighthouse at dusk',
    });
    expect(Array.isArray(body.jobs[0].attempts)).toBe(true);
    expect(body.nextCursor).toBeNull();
    const filtered = await server.app.inject({ url: '/v1/admin/videos?userId=alice', headers: admin });
    expect(filtered.json().jobs).toEqual([]);
    const badCursor = await server.app.inject({ url: '/v1/admin/videos?cursor=nope', headers: admin });
    expect(badCursor.statusCode).toBe(400);
  });

  it('does not exist for user tokens and refuses a missing token', async () => {
    for (const url of [
      '/v1/admin/overview',
      '/v1/admin/users',
      '/v1/admin/usage/daily',
      '/v1/admin/videos',
    ]) {
      const asUser = await server.app.inject({ url, headers: { authorization: `Bearer ${userToken}` } });
      expect(asUser.statusCode, url).toBe(404);
      const anonymous = await server.app.inject({ url });
      expect(anonymous.statusCode, url).toBe(401);
    }
  });

  it('lists the admin routes in the OpenAPI document', async () => {
    const document = (await server.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/v1/admin/overview',
        '/v1/admin/users',
        '/v1/admin/usage/daily',
        '/v1/admin/videos',
      ]),
    );
  });
});
