import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, simulatorKeys, startProviderSimulator } from '../../src/simulator/index.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import {
  type Browser,
  ensureWebBuild,
  eventually,
  hasChromium,
  launchBrowser,
  POLL,
  SKIP_REASON,
} from './support.ts';

/**
 * The admin dashboard in headless Chromium against a real server and the simulator: after passthrough
 * traffic, a video job, a webhook delivery and a refused key, the pages show the figures and charts, and
 * the browser logs no errors.
 */
if (!hasChromium) console.warn(SKIP_REASON);

describe.skipIf(!hasChromium)('admin dashboard in Chromium', () => {
  let simulator: Simulator;
  let server: TestServer;
  let url: string;
  let receiver: Server;
  let browser: Browser;
  let page: Page;
  const received: string[] = [];

  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
  const key = (provider: string) => simulatorKeys()[provider]?.[0] ?? '';

  async function call(method: string, path: string, body?: unknown, headers = admin()) {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? undefined : response.json();
  }

  async function traffic(userId: string, providers: Record<string, number>) {
    for (const provider of Object.keys(providers)) {
      await call('PUT', `/v1/users/${userId}/credentials/${provider}`, {
        credentials: { apiKey: key(provider) },
      });
    }
    const { token } = (await call('POST', `/v1/users/${userId}/tokens`, {})) as { token: string };
    const headers = { authorization: `Bearer ${token}` };
    const messages = [{ role: 'user', content: 'Hello' }];
    for (let index = 0; index < (providers.openai ?? 0); index++) {
      await call('POST', '/v1/openai/chat/completions', { model: 'gpt-4o-mini', messages }, headers);
    }
    for (let index = 0; index < (providers.mistral ?? 0); index++) {
      await call(
        'POST',
        '/v1/mistral/v1/chat/completions',
        { model: 'mistral-small-latest', messages },
        headers,
      );
    }
  }

  beforeAll(async () => {
    await ensureWebBuild();
    receiver = createServer((request, response) => {
      received.push(String(request.headers['webhook-id']));
      request.resume();
      response.writeHead(204).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    simulator = await startProviderSimulator({ port: 0 });
    server = await startTestServer({
      target: 'pglite',
      simulator,
      env: { KEYHAVEN_ALLOW_PRIVATE_URLS: 'true', KEYHAVEN_WEBHOOK_POLL_MS: '20' },
    });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;

    await call('POST', '/v1/webhooks', {
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
      description: 'e2e receiver',
    });
    await traffic('alice@studio.example', { openai: 4, mistral: 2 });
    await traffic('bob', { openai: 1 });
    await call('PUT', '/v1/users/alice@studio.example/budget', { amountUsd: 25 });
    // A key the provider refuses on a test: an invalid credential and a credential.invalid delivery.
    await call('PUT', '/v1/users/carol/credentials/anthropic', {
      credentials: { apiKey: 'sk-ant-revoked-000000000000' },
      validate: false,
    });
    await call('POST', '/v1/users/carol/credentials/anthropic/test');
    await call('PUT', '/v1/users/dave/credentials/runway', { credentials: { apiKey: key('runway') } });
    await call('POST', '/v1/users/dave/videos', { provider: 'runway', prompt: 'A lighthouse at dusk' });
    await eventually(async () => received.length > 0, 10_000);

    browser = await launchBrowser({
      // Chromium logs every non-2xx fetch: the wrong sign-in token (401) is expected.
      ignore: (message) =>
        /status of 401/.test(message.text()) && message.location().url.endsWith('/v1/admin/overview'),
    });
    page = await browser.page();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await simulator?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  const heading = () => page.getByRole('heading', { level: 1 });

  it('refuses a wrong token and signs in with the admin token', async () => {
    await page.goto(`${url}/dashboard/`);
    const token = page.getByLabel('Admin token');
    await token.fill('not-the-admin-token-not-the-admin-token');
    await token.press('Enter');
    await expect
      .poll(() => page.getByRole('alert').textContent(), POLL)
      .toContain('That token was not accepted');
    await token.fill(server.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => heading().textContent(), POLL).toBe('Overview');
    expect(await page.evaluate('sessionStorage.length')).toBe(1);
  });

  it('shows the overview figures and a usage chart', async () => {
    const stat = (label: string) => page.locator('.stat', { has: page.locator('dt', { hasText: label }) });
    // 7 passthrough calls (the video job may add its own once the worker finishes it).
    await expect
      .poll(async () => Number(await stat('Requests this month').locator('.stat-value').textContent()), POLL)
      .toBeGreaterThanOrEqual(7);
    expect(await stat('Users').locator('.stat-value').textContent()).toBe('4');
    expect(await stat('Credentials').locator('.stat-detail').textContent()).toBe(
      '4 valid · 1 invalid · 0 unverified',
    );
    expect(await stat('Cost this month').locator('.stat-value').textContent()).toMatch(/^\$0\.\d+/);
    const chart = page.getByTestId('chart-provider-requests');
    await chart.locator('.recharts-bar-rectangle').first().waitFor();
    expect(await chart.locator('.recharts-legend-item-text').allTextContents()).toEqual(
      expect.arrayContaining(['mistral', 'openai']),
    );
    await browser.screenshot(page, 'dashboard-overview');
  });

  it('charts usage over time by provider and by model', async () => {
    await page.getByRole('link', { name: 'Usage' }).click();
    await expect.poll(() => heading().textContent(), POLL).toBe('Usage');
    for (const id of ['provider-requests', 'provider-costUsd', 'model-requests', 'model-costUsd']) {
      await page.getByTestId(`chart-${id}`).locator('.recharts-bar-rectangle').first().waitFor();
    }
    expect(
      await page.getByTestId('chart-model-requests').locator('.recharts-legend-item-text').allTextContents(),
    ).toEqual(expect.arrayContaining(['mistral/mistral-small-latest', 'openai/gpt-4o-mini']));
    await page.getByLabel('Period').selectOption('7');
    await page.getByTestId('chart-provider-requests').locator('.recharts-bar-rectangle').first().waitFor();
    await browser.screenshot(page, 'dashboard-usage');
  });

  it("searches users and opens a user's page", async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count(), POLL).toBe(4);
    await page.getByLabel('Search users').fill('STUDIO');
    await expect.poll(() => rows.count(), POLL).toBe(1);
    await page.getByRole('link', { name: 'alice@studio.example' }).click();
    await expect.poll(() => heading().textContent(), POLL).toBe('User alice@studio.example');
    const credentials = page.locator('table').first();
    // The credentials arrive with their own request, after the heading: wait for them.
    await expect
      .poll(async () => (await credentials.locator('tbody th').allTextContents()).sort(), POLL)
      .toEqual(['mistral', 'openai']);
    await page.getByTestId('chart-model-requests').locator('.recharts-bar-rectangle').first().waitFor();
    const budget = page.locator('.stat', { has: page.locator('dt', { hasText: /^Budget/ }) });
    await expect.poll(() => budget.locator('.stat-value').textContent(), POLL).toBe('$25.00');
    await browser.screenshot(page, 'dashboard-user');
  });

  it('lists video jobs with their attempts', async () => {
    await page.getByRole('link', { name: 'Video jobs' }).click();
    await expect.poll(() => heading().textContent(), POLL).toBe('Video jobs');
    const row = page.locator('tbody tr').first();
    await expect.poll(() => row.textContent(), POLL).toContain('A lighthouse at dusk');
    expect(await row.textContent()).toContain('dave');
    const attempts = row.getByRole('button', { name: /attempts?$/ });
    await attempts.click();
    expect(await attempts.getAttribute('aria-expanded')).toBe('true');
    await browser.screenshot(page, 'dashboard-videos');
  });

  it('lists webhook deliveries', async () => {
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await expect.poll(() => heading().textContent(), POLL).toBe('Webhooks');
    await expect
      .poll(() => page.locator('tbody th', { hasText: 'credential.invalid' }).count(), POLL)
      .toBeGreaterThan(0);
    expect(await page.locator('td.url', { hasText: '/hooks' }).count()).toBeGreaterThan(0);
    await browser.screenshot(page, 'dashboard-webhooks');
  });

  it('shows the audit log with its verification result', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    const verification = page.getByTestId('audit-verification');
    await expect.poll(() => verification.textContent(), POLL).toMatch(/^Hash chain verified: \d+ events/);
    expect(await page.locator('tbody tr').count()).toBeGreaterThan(5);
    await browser.screenshot(page, 'dashboard-audit');
  });

  it('signs out and forgets the token', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
  });

  it('logged no console errors', () => {
    expect(browser.errors).toEqual([]);
  });
});
