import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets } from '../../test/support/databases.ts';
import { startTestServer, type TestServer } from '../../test/support/server.ts';
import { type Simulator, startProviderSimulator } from '../simulator/index.ts';

/**
 * A canary key sent through the API in every flow we have, failures included: it must never appear in a
 * response body, a response header or a log line (logs captured at trace level).
 */
describe.each(databaseTargets)('canary leak over HTTP on $name', ({ name }) => {
  let simulator: Simulator;
  let server: TestServer;
  const canary = `sk-test-CANARY-${randomBytes(12).toString('hex')}`;
  const seen: string[] = [];

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0, keys: { openai: [canary] } });
    server = await startTestServer({ target: name, simulator });
  });
  afterAll(async () => {
    await server?.close();
    await simulator?.close();
  });

  it('never echoes the canary, whatever the outcome', async () => {
    const admin = { authorization: `Bearer ${server.adminToken}` };
    const calls = [
      // Valid key: stored, summarised, tested, listed.
      {
        method: 'PUT',
        url: '/v1/users/canary-user/credentials/openai',
        payload: { credentials: { apiKey: canary } },
      },
      { method: 'GET', url: '/v1/users/canary-user/credentials/openai' },
      { method: 'GET', url: '/v1/users/canary-user/credentials' },
      { method: 'POST', url: '/v1/users/canary-user/credentials/openai/test' },
      // Refused by the provider, wrong shape, unknown provider, broken JSON, wrong token, key in the query.
      {
        method: 'PUT',
        url: '/v1/users/canary-user/credentials/anthropic',
        payload: { credentials: { apiKey: canary } },
      },
      {
        method: 'PUT',
        url: '/v1/users/canary-user/credentials/openai',
        payload: { credentials: { apiKey: canary, unexpected: canary }, validate: canary },
      },
      {
        method: 'PUT',
        url: '/v1/users/canary-user/credentials/nope',
        payload: { credentials: { apiKey: canary } },
      },
      {
        method: 'PUT',
        url: '/v1/users/canary-user/credentials/openai',
        payload: `{"credentials": {"apiKey": "${canary}"`,
        headers: { 'content-type': 'application/json' },
      },
      {
        method: 'GET',
        url: '/v1/users/canary-user/credentials',
        headers: { authorization: `Bearer ${canary}` },
      },
      { method: 'GET', url: `/v1/users/canary-user/credentials?key=${canary}` },
      { method: 'GET', url: '/v1/providers', headers: { 'x-api-key': canary, 'x-goog-api-key': canary } },
      { method: 'GET', url: '/v1/admin/audit?limit=1000' },
      { method: 'GET', url: '/metrics' },
      { method: 'DELETE', url: '/v1/users/canary-user/credentials/openai' },
      { method: 'DELETE', url: '/v1/users/canary-user' },
    ] as const;
    for (const call of calls) {
      const headers = { ...admin, ...('headers' in call ? call.headers : {}) };
      const response = await server.app.inject({
        method: call.method,
        url: call.url,
        headers,
        ...('payload' in call ? { payload: call.payload } : {}),
      });
      seen.push(`${call.method} ${call.url} -> ${response.statusCode}`);
      expect(response.body, `${call.method} ${call.url}`).not.toContain(canary);
      expect(JSON.stringify(response.headers), `${call.method} ${call.url}`).not.toContain(canary);
    }
    // The flows really ran: a stored credential, a refusal and the failures above.
    expect(seen).toContain('PUT /v1/users/canary-user/credentials/openai -> 200');
    expect(seen).toContain('PUT /v1/users/canary-user/credentials/anthropic -> 422');
    expect(seen).toContain('DELETE /v1/users/canary-user -> 204');
    const logs = server.logs();
    expect(logs).toContain('canary-user');
    expect(logs).not.toContain(canary);
  });
});
