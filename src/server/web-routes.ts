import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import fastifyCors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The browser side: the `<keyhaven-keys>` web component at /web/keyhaven-keys.js and the admin dashboard
 * under /dashboard/, both built by `npm run build` into dist/web, and CORS for applications on other
 * origins (KEYHAVEN_CORS_ORIGINS, parsed in config.ts). Without a build the server still runs and says so on those paths.
 */
export const DEFAULT_WEB_ROOT = resolve(import.meta.dirname, '../../dist/web');
export const COMPONENT_FILE = 'keyhaven-keys.js';
export const DASHBOARD_DIR = 'dashboard';

const NOT_BUILT =
  'The Keyhaven web assets are not built. Run `npm run build` (npm start does it when they are missing).';

/** The dashboard talks only to this server and is never framed: a stolen admin token is the worst case. */
const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // Recharts positions tooltips and legends with style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
].join('; ');

export interface WebOptions {
  /** Where the build put the web assets; default dist/web in this checkout. */
  webRoot?: string;
}

/**
 * Registers CORS first: its onRequest hook then runs before authentication, so a refused token still
 * reaches the embedding page as a readable 401 instead of an opaque CORS failure.
 */
export async function registerCors(server: FastifyInstance, corsOrigins: readonly string[]): Promise<void> {
  // No origins: same origin only, which needs no CORS headers at all; the plugin would still run its
  // hook on every request (gateway calls included) to find that out.
  if (corsOrigins.length === 0) return;
  await server.register(fastifyCors, {
    origin: [...corsOrigins],
    methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type'],
    exposedHeaders: ['x-request-id', 'x-keyhaven-credential', 'retry-after'],
    credentials: false,
    maxAge: 600,
  });
}

export async function registerWebRoutes(
  server: FastifyInstance,
  { webRoot = DEFAULT_WEB_ROOT }: WebOptions = {},
): Promise<void> {
  const dashboardRoot = join(webRoot, DASHBOARD_DIR);
  // serve: false: only reply.sendFile (ETag, ranges, path traversal refused); routes below decide what exists.
  await server.register(fastifyStatic, { root: webRoot, serve: false, wildcard: false });

  const notBuilt = (reply: FastifyReply, type: string) =>
    reply.code(503).type(type).header('cache-control', 'no-store').header('retry-after', '60');

  server.get(
    `/web/${COMPONENT_FILE}`,
    {
      schema: { hide: true },
      // Public code with no credentials in it: any page may load it as a module script.
      config: { cors: false },
    },
    async (_request, reply) => {
      reply.header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin');
      let source: Buffer;
      try {
        source = await readFile(join(webRoot, COMPONENT_FILE));
      } catch {
        return notBuilt(reply, 'text/javascript; charset=utf-8').send(
          `console.error(${JSON.stringify(NOT_BUILT)});\n`,
        );
      }
      return reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=300')
        .header('x-content-type-options', 'nosniff')
        .send(source);
    },
  );

  server.get('/dashboard', { schema: { hide: true } }, async (_request, reply) =>
    reply.redirect('/dashboard/', 308),
  );

  const dashboardHeaders = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', DASHBOARD_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');

  server.get('/dashboard/', { schema: { hide: true } }, async (_request, reply) => {
    dashboardHeaders(reply);
    if (!existsSync(join(dashboardRoot, 'index.html'))) {
      return notBuilt(reply, 'text/plain; charset=utf-8').send(`${NOT_BUILT}\n`);
    }
    return reply
      .header('cache-control', 'no-cache')
      .sendFile('index.html', dashboardRoot, { cacheControl: false });
  });

  server.get<{ Params: { '*': string } }>(
    '/dashboard/assets/*',
    { schema: { hide: true } },
    async (request, reply) => {
      dashboardHeaders(reply);
      if (!existsSync(dashboardRoot)) {
        return notBuilt(reply, 'text/plain; charset=utf-8').send(`${NOT_BUILT}\n`);
      }
      // File names carry a content hash: a new build never reuses one.
      return reply.sendFile(request.params['*'], join(dashboardRoot, 'assets'), {
        maxAge: 365 * 24 * 3600 * 1000,
        immutable: true,
      });
    },
  );
}
