import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/support/server.ts';
import { loadConfig } from '../config.ts';
import { type Simulator, startProviderSimulator } from '../simulator/index.ts';

/** Serving the built web assets (and saying so when there is no build), and CORS for embedding pages. */
describe('web assets and CORS', () => {
  let simulator: Simulator;
  let built: TestServer;
  let missing: TestServer;
  const webRoot = mkdtempSync(join(tmpdir(), 'keyhaven-web-'));
  const allowed = 'https://studio.example.com';

  beforeAll(async () => {
    mkdirSync(join(webRoot, 'dashboard', 'assets'), { recursive: true });
    writeFileSync(join(webRoot, 'keyhaven-keys.js'), 'export const built = true;\n');
    writeFileSync(join(webRoot, 'dashboard', 'index.html'), '<!doctype html><title>Keyhaven</title>');
    writeFileSync(join(webRoot, 'dashboard', 'assets', 'index-abc123.js'), 'console.log(1);\n');
    simulator = await startProviderSimulator({ port: 0 });
    built = await startTestServer({
      target: 'pglite',
      simulator,
      env: { KEYHAVEN_CORS_ORIGINS: `${allowed}, http://localhost:5173` },
      options: { webRoot },
    });
    missing = await startTestServer({
      target: 'pglite',
      simulator,
      options: { webRoot: join(webRoot, 'does-not-exist') },
    });
  });
  afterAll(async () => {
    await built?.close();
    await missing?.close();
    await simulator?.close();
    rmSync(webRoot, { recursive: true, force: true });
  });

  it('serves the web component to any origin as a JavaScript module', async () => {
    const response = await built.app.inject({
      url: '/web/keyhaven-keys.js',
      headers: { origin: 'https://anywhere.example' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.body).toContain('built = true');
  });

  it('serves the dashboard with a strict content security policy', async () => {
    const redirect = await built.app.inject({ url: '/dashboard' });
    expect(redirect.statusCode).toBe(308);
    expect(redirect.headers.location).toBe('/dashboard/');
    const page = await built.app.inject({ url: '/dashboard/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
    const asset = await built.app.inject({ url: '/dashboard/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    const absent = await built.app.inject({ url: '/dashboard/assets/nope.js' });
    expect(absent.statusCode).toBe(404);
    const traversal = await built.app.inject({ url: '/dashboard/assets/..%2f..%2fkeyhaven-keys.js' });
    expect(traversal.statusCode).not.toBe(200);
  });

  it('answers 503 with how to build when the assets are missing, and keeps serving the API', async () => {
    const page = await missing.app.inject({ url: '/dashboard/' });
    expect(page.statusCode).toBe(503);
    expect(page.body).toContain('npm run build');
    const script = await missing.app.inject({ url: '/web/keyhaven-keys.js' });
    expect(script.statusCode).toBe(503);
    expect(script.body).toContain('npm run build');
    const asset = await missing.app.inject({ url: '/dashboard/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(503);
    const providers = await missing.app.inject({
      url: '/v1/providers',
      headers: { authorization: `Bearer ${missing.adminToken}` },
    });
    expect(providers.statusCode).toBe(200);
  });

  it('answers CORS preflights and requests only for the configured origins', async () => {
    const preflight = await built.app.inject({
      method: 'OPTIONS',
      url: '/v1/users/alice/credentials/openai',
      headers: {
        origin: allowed,
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(allowed);
    expect(preflight.headers['access-control-allow-methods']).toContain('PUT');
    expect(preflight.headers['access-control-allow-headers']).toMatch(/^authorization, ?content-type$/);
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();

    // A refused token still reaches the page as a readable 401.
    const refused = await built.app.inject({
      url: '/v1/users/alice/credentials',
      headers: { origin: allowed, authorization: 'Bearer wrong' },
    });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(allowed);
    expect(refused.headers['access-control-expose-headers']).toContain('x-request-id');

    const stranger = await built.app.inject({
      method: 'OPTIONS',
      url: '/v1/users/alice/credentials/openai',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' },
    });
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    const defaultServer = await missing.app.inject({
      url: '/v1/providers',
      headers: { origin: allowed, authorization: `Bearer ${missing.adminToken}` },
    });
    expect(defaultServer.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses a CORS origin list that is not exact origins, naming the variable', () => {
    const origins = (value: string | undefined) => loadConfig({ KEYHAVEN_CORS_ORIGINS: value }).corsOrigins;
    expect(origins(undefined)).toEqual([]);
    expect(origins(' https://a.example ,http://localhost:3000')).toEqual([
      'https://a.example',
      'http://localhost:3000',
    ]);
    for (const bad of ['*', 'https://a.example/', 'a.example', 'https://a.example/app', 'ftp://a.example']) {
      expect(() => origins(bad), bad).toThrow(/^KEYHAVEN_CORS_ORIGINS: /);
    }
  });
});
