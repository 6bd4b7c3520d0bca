import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Locator, Page } from 'playwright-core';
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
 * The <keyhaven-keys> web component in headless Chromium, embedded by an application on another origin
 * (CORS), against a real Keyhaven server and the provider simulator: add a key and see it valid, test,
 * rotate, delete; a refused key shows the provider's reason; keyboard only; no console errors.
 */
if (!hasChromium) console.warn(SKIP_REASON);

const ROTATED_OPENAI_KEY = 'sk-proj-rotated-e2e-0123456789abcdefghijklmnop';
const USER = 'user-e2e-keys';

describe.skipIf(!hasChromium)('<keyhaven-keys> in Chromium', () => {
  let simulator: Simulator;
  let server: TestServer;
  let keyhavenUrl: string;
  let host: Server;
  let hostUrl: string;
  let browser: Browser;
  let page: Page;
  let userToken: string;

  const admin = () => ({ authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' });

  async function summary(provider: string) {
    const response = await fetch(`${keyhavenUrl}/v1/users/${USER}/credentials/${provider}`, {
      headers: admin(),
    });
    return (await response.json()) as { connected: boolean; status: string | null; version: number | null };
  }

  const card = (provider: string): Locator => page.locator(`keyhaven-keys li[data-provider="${provider}"]`);
  const status = () => page.locator('keyhaven-keys [role="status"]');
  const isFocused = (locator: Locator) =>
    locator.evaluate(
      (element) => (element.getRootNode() as unknown as { activeElement: unknown }).activeElement === element,
    );

  beforeAll(async () => {
    await ensureWebBuild();
    // The embedding application: a page on its own origin that loads the component from Keyhaven.
    host = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Studio settings</title><link rel="icon" href="data:,">
<style>keyhaven-keys { max-width: 720px; margin: 1rem auto; --keyhaven-color-accent: #5b21b6; }</style>
<script type="module" src="${keyhavenUrl}/web/keyhaven-keys.js"></script></head>
<body><h1>Studio settings</h1>
<keyhaven-keys base-url="${keyhavenUrl}" user-id="${USER}" heading="Your AI keys"></keyhaven-keys>
<script type="module">
  const element = document.querySelector('keyhaven-keys');
  element.token = ${JSON.stringify(userToken)};
  window.changes = [];
  element.addEventListener('keyhaven-change', (event) => window.changes.push(event.detail));
</script></body></html>`);
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    hostUrl = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;

    simulator = await startProviderSimulator({ port: 0, keys: { openai: [ROTATED_OPENAI_KEY] } });
    server = await startTestServer({
      target: 'pglite',
      simulator,
      env: { KEYHAVEN_CORS_ORIGINS: hostUrl },
    });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    keyhavenUrl = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    const minted = await fetch(`${keyhavenUrl}/v1/users/${USER}/tokens`, {
      method: 'POST',
      headers: admin(),
      body: '{}',
    });
    userToken = ((await minted.json()) as { token: string }).token;

    browser = await launchBrowser({
      // Chromium logs every non-2xx fetch; the one refused key below is expected.
      ignore: (message) => /status of 422/.test(message.text()),
    });
    page = await browser.page();
    await page.goto(hostUrl);
    await card('openai').waitFor();
  });

  afterAll(async () => {
    if (page) await browser.screenshot(page, 'keyhaven-keys-final');
    await browser?.close();
    await server?.close();
    await simulator?.close();
    await new Promise((resolve) => host?.close(resolve));
  });

  it('lists every provider with its status, from another origin', async () => {
    await expect.poll(() => status().textContent(), POLL).toMatch(/providers, 0 connected/);
    const names = await page.locator('keyhaven-keys li[data-provider] h3').allTextContents();
    expect(names.length).toBeGreaterThanOrEqual(8);
    expect(names).toContain('OpenAI');
    expect(await page.locator('keyhaven-keys h2').textContent()).toBe('Your AI keys');
    expect(await card('openai').locator('.badge').textContent()).toBe('Not connected');
    await browser.screenshot(page, 'keyhaven-keys-empty');
  });

  it('adds a key with the keyboard only and shows it valid, masked, never read back', async () => {
    const add = card('openai').getByRole('button', { name: 'Add OpenAI key' });
    await add.focus();
    await page.keyboard.press('Enter');
    const apiKey = card('openai').getByLabel('API key');
    expect(await isFocused(apiKey)).toBe(true);
    const key = simulatorKeys().openai?.[0] ?? '';
    await page.keyboard.type(key);
    await page.keyboard.press('Enter');

    await expect.poll(() => status().textContent(), POLL).toBe('OpenAI key saved. OpenAI accepted it.');
    expect(await card('openai').locator('.badge').textContent()).toBe('Valid');
    const masked = await card('openai').locator('code.masked').textContent();
    expect(masked).not.toContain(key);
    expect(masked?.slice(-4)).toBe(key.slice(-4));
    expect(await card('openai').getByText('Never').count()).toBeGreaterThan(0);
    // The form is closed and emptied; the secret is nowhere in the page.
    expect(await apiKey.isHidden()).toBe(true);
    expect(await apiKey.inputValue()).toBe('');
    const html = String(await page.evaluate("document.querySelector('keyhaven-keys').shadowRoot.innerHTML"));
    expect(html).not.toContain(key);
    // Focus returns to the card's actions, with a visible focus ring.
    const focused = card('openai').locator('button:focus-visible');
    expect(await focused.count()).toBe(1);
    expect(
      await focused.evaluate(
        (element) =>
          (
            globalThis as unknown as { getComputedStyle(element: unknown): { outlineStyle: string } }
          ).getComputedStyle(element).outlineStyle,
      ),
    ).toBe('solid');
    expect(await summary('openai')).toMatchObject({ connected: true, status: 'valid', version: 1 });
    await browser.screenshot(page, 'keyhaven-keys-valid');
  });

  it('tests the stored key with the provider', async () => {
    await card('openai').getByRole('button', { name: 'Test OpenAI key' }).click();
    await expect.poll(() => status().textContent(), POLL).toBe('OpenAI accepted your key.');
  });

  it('rotates the key: a new version, still valid', async () => {
    const before = await card('openai').locator('code.masked').textContent();
    await card('openai').getByRole('button', { name: 'Rotate OpenAI key' }).click();
    await card('openai').getByLabel('API key').fill(ROTATED_OPENAI_KEY);
    await card('openai').getByRole('button', { name: 'Save new key' }).click();
    await expect.poll(() => status().textContent(), POLL).toBe('OpenAI key rotated. OpenAI accepted it.');
    const after = await card('openai').locator('code.masked').textContent();
    expect(after).not.toBe(before);
    expect(after?.slice(-4)).toBe(ROTATED_OPENAI_KEY.slice(-4));
    expect(await summary('openai')).toMatchObject({ connected: true, status: 'valid', version: 2 });
  });

  it("shows the provider's reason for a refused key and stores nothing", async () => {
    const badKey = 'sk-ant-not-a-real-key-0000000000000000';
    // What the API says about this key: the component must show the same reason.
    const direct = await fetch(`${keyhavenUrl}/v1/users/someone-else/credentials/anthropic`, {
      method: 'PUT',
      headers: admin(),
      body: JSON.stringify({ credentials: { apiKey: badKey } }),
    });
    expect(direct.status).toBe(422);
    const reason = ((await direct.json()) as { error: { message: string } }).error.message;

    await card('anthropic').getByRole('button', { name: 'Add Anthropic key' }).click();
    const apiKey = card('anthropic').getByLabel('API key');
    await apiKey.fill(badKey);
    await apiKey.press('Enter');
    const error = card('anthropic').locator('.form-error');
    await expect.poll(() => error.textContent(), POLL).toBe(`Anthropic did not accept this key: ${reason}`);
    expect(await error.getAttribute('role')).toBe('alert');
    expect(await apiKey.getAttribute('aria-invalid')).toBe('true');
    expect(await apiKey.inputValue()).toBe('');
    expect(await status().textContent()).toBe('Anthropic key not saved.');
    expect(await summary('anthropic')).toMatchObject({ connected: false });
    await browser.screenshot(page, 'keyhaven-keys-refused');
    // Escape closes the form and returns focus to the button that opened it.
    await page.keyboard.press('Escape');
    expect(await apiKey.isHidden()).toBe(true);
    expect(await isFocused(card('anthropic').getByRole('button', { name: 'Add Anthropic key' }))).toBe(true);
  });

  it('deletes the key after a confirmation step', async () => {
    await card('openai').getByRole('button', { name: 'Delete OpenAI key' }).click();
    const confirm = card('openai').getByRole('group');
    expect(await confirm.textContent()).toContain('Delete your OpenAI key?');
    const keep = confirm.getByRole('button', { name: 'Keep key' });
    expect(await isFocused(keep)).toBe(true);
    await keep.click();
    expect(await summary('openai')).toMatchObject({ connected: true });

    await card('openai').getByRole('button', { name: 'Delete OpenAI key' }).click();
    await confirm.getByRole('button', { name: 'Delete key' }).click();
    await expect.poll(() => status().textContent(), POLL).toBe('OpenAI key deleted.');
    expect(await card('openai').locator('.badge').textContent()).toBe('Not connected');
    await eventually(async () => !(await summary('openai')).connected);
    const changes = await page.evaluate('window.changes');
    expect(changes).toEqual([
      { provider: 'openai', action: 'stored', status: 'valid' },
      { provider: 'openai', action: 'tested', status: 'valid' },
      { provider: 'openai', action: 'stored', status: 'valid' },
      { provider: 'openai', action: 'deleted', status: null },
    ]);
  });

  it('logged no console errors', () => {
    expect(browser.errors).toEqual([]);
  });
});
