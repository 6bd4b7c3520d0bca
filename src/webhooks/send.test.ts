import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookTransport, sendWebhook } from './send.ts';

/**
 * The transport refuses non-public addresses where it connects, not only where the URL is checked, so a
 * host that resolves to a public address at the check and to a private one at the connection is still
 * refused (DNS rebinding). "localhost" stands in for such a host: it resolves to loopback.
 */
describe('webhook transport', () => {
  let receiver: Server;
  let port = 0;
  let hits = 0;

  beforeAll(async () => {
    receiver = createServer((_request, response) => {
      hits += 1;
      response.writeHead(200).end('ok');
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    if (typeof address === 'object' && address) port = address.port;
  });
  afterAll(async () => {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  const request = (signal = AbortSignal.timeout(2000)) => ({
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body: '{}',
    redirect: 'manual' as const,
    signal,
  });

  it('refuses at connect time a host name that resolves to loopback', async () => {
    const guarded = createWebhookTransport({ allowPrivate: false });
    try {
      const error = await guarded.fetch(`http://localhost:${port}/hook`, request()).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as { cause?: { code?: string } }).cause?.code).toBe('KEYHAVEN_PRIVATE_ADDRESS');
      expect(hits).toBe(0);
    } finally {
      await guarded.close();
    }
  });

  it('connects to the same host when private addresses are allowed', async () => {
    const open = createWebhookTransport({ allowPrivate: true });
    try {
      const response = await open.fetch(`http://localhost:${port}/hook`, request());
      expect(response.status).toBe(200);
      expect(hits).toBe(1);
    } finally {
      await open.close();
    }
  });

  it('sendWebhook refuses private URLs before connecting and never reports the URL', async () => {
    const guarded = createWebhookTransport({ allowPrivate: false });
    try {
      const literal = await sendWebhook({
        url: `http://127.0.0.1:${port}/hook?token=very-secret-token`,
        headers: {},
        body: '{}',
        fetch: guarded.fetch,
        timeoutMs: 2000,
        allowPrivate: false,
      });
      expect(literal).toEqual({ ok: false, error: 'refused: the URL is not a public http(s) address' });
      const byName = await sendWebhook({
        url: `http://localhost:${port}/hook?token=very-secret-token`,
        headers: {},
        body: '{}',
        fetch: guarded.fetch,
        timeoutMs: 2000,
        allowPrivate: false,
      });
      expect(byName.ok).toBe(false);
      expect(JSON.stringify(byName)).not.toContain('very-secret-token');
      expect(hits).toBe(1);
    } finally {
      await guarded.close();
    }
  });

  it('times out a receiver that does not answer', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const open = createWebhookTransport({ allowPrivate: true });
    try {
      const outcome = await sendWebhook({
        url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`,
        headers: {},
        body: '{}',
        fetch: open.fetch,
        timeoutMs: 150,
        allowPrivate: true,
      });
      expect(outcome).toEqual({ ok: false, error: 'timed out after 150 ms' });
    } finally {
      await open.close().catch(() => {});
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
