import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startProviderSimulator } from '../../src/simulator/index.ts';
import { expectNoCanary, expectNoCanaryInDatabase } from '../support/canary.ts';
import { databaseTargets } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Security test 20 over HTTP: a canary key sent through the API in every flow we have, failures
 * included, must never appear in a response body or header, a log line (captured at trace level), the
 * metrics, or any table of the database (as text, hex or base64).
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
      expectNoCanary(canary, response.body, `${call.method} ${call.url}`);
      expectNoCanary(canary, JSON.stringify(response.headers), `headers of ${call.method} ${call.url}`);
    }
    // With the credential still stored: the database and the metrics.
    expect(await expectNoCanaryInDatabase(canary, server.keyhaven.database)).toContain('credentials');
    const metrics = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expectNoCanary(canary, metrics.body, 'metrics');
    for (const url of ['/v1/users/canary-user/credentials/openai', '/v1/users/canary-user']) {
      const response = await server.app.inject({ method: 'DELETE', url, headers: admin });
      seen.push(`DELETE ${url} -> ${response.statusCode}`);
    }
    // The flows really ran: a stored credential, a refusal and the failures above.
    expect(seen).toContain('PUT /v1/users/canary-user/credentials/openai -> 200');
    expect(seen).toContain('PUT /v1/users/canary-user/credentials/anthropic -> 422');
    expect(seen).toContain('DELETE /v1/users/canary-user -> 204');
    const logs = server.logs();
    expect(logs).toContain('canary-user');
    expectNoCanary(canary, logs, 'logs');
  });
});
