import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { createKeyhaven, type Keyhaven } from '../../src/keyhaven.ts';
import { buildServer } from '../../src/server/app.ts';
import { ensureAdminToken } from '../../src/server/auth.ts';
import { type Simulator, simulatorEnvironment } from '../../src/simulator/index.ts';
import { createWebhookService, type WebhookService } from '../../src/webhooks/index.ts';
import { type DatabaseTarget, dropSchema, freshSchema, postgresUrl } from '../support/databases.ts';

/** What the webhook suites share: a local receiver that records requests, and short delivery timings. */

/** Fast delivery for tests: polling every 20 ms, retries after ~50 ms, ~200 ms, then failed. */
export const FAST_WEBHOOKS: Record<string, string> = {
  KEYHAVEN_ALLOW_PRIVATE_URLS: 'true',
  KEYHAVEN_WEBHOOK_POLL_MS: '20',
  KEYHAVEN_WEBHOOK_RETRY_BASE_MS: '50',
  KEYHAVEN_WEBHOOK_MAX_ATTEMPTS: '3',
  KEYHAVEN_WEBHOOK_TIMEOUT_MS: '2000',
};

export interface ReceivedRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
}

export type Reply = number | { status: number; headers?: Record<string, string> };

export interface Receiver {
  url(path?: string): string;
  requests(path?: string): ReceivedRequest[];
  /** Answers for the requests to come on a path, in order; after them, 200. */
  respond(path: string, replies: Reply[] | ((index: number) => Reply)): void;
  close(): Promise<void>;
}

function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  const plans = new Map<string, (index: number) => Reply>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const index = received.filter((entry) => entry.path === path).length;
      received.push({
        path,
        headers: flatHeaders(request.headers),
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      const reply = plans.get(path)?.(index) ?? 200;
      const { status, headers = {} } = typeof reply === 'number' ? { status: reply } : reply;
      response.writeHead(status, { 'content-type': 'text/plain', ...headers });
      response.end(status < 300 ? 'ok' : 'not ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('receiver has no port');
  return {
    url: (path = '/hook') => `http://127.0.0.1:${address.port}${path}`,
    requests: (path) => received.filter((entry) => path === undefined || entry.path === path),
    respond(path, replies) {
      plans.set(path, typeof replies === 'function' ? replies : (index) => replies[index] ?? 200);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A second webhook service on a server's database, standing in for a producer (video worker, gateway). */
export function producerFor(keyhaven: Keyhaven): WebhookService {
  return createWebhookService({
    db: keyhaven.database.db,
    kms: keyhaven.kms,
    tenant: keyhaven.config.tenant,
    allowPrivateUrls: true,
  });
}

/**
 * A database and master key that outlive one server, so a test can stop a server and start the next
 * one on the same data (a restart).
 */
export interface PersistentSetup {
  start(): Promise<{ app: FastifyInstance; keyhaven: Keyhaven; close(): Promise<void> }>;
  adminToken: string;
  dispose(): Promise<void>;
}

export function persistentSetup({
  target,
  simulator,
  env = {},
}: {
  target: DatabaseTarget['name'];
  simulator: Simulator;
  env?: Record<string, string>;
}): PersistentSetup {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-webhooks-'));
  const schema = target === 'postgres' ? freshSchema() : undefined;
  const masterKeys = `v1:${generateMasterKey()}`;
  const adminToken = `kha_${randomBytes(32).toString('base64url')}`;
  return {
    adminToken,
    async start() {
      const keyhaven = await createKeyhaven({
        config: loadConfig({
          ...simulatorEnvironment(simulator),
          KEYHAVEN_DATA_DIR: dataDir,
          KEYHAVEN_MASTER_KEYS: masterKeys,
          ...(schema ? { DATABASE_URL: postgresUrl, KEYHAVEN_DATABASE_SCHEMA: schema } : {}),
          ...env,
        }),
        warn: () => {},
      });
      const admin = await ensureAdminToken(keyhaven.database.db, adminToken);
      const app = await buildServer({ keyhaven, adminTokenHash: admin.hash, logger: false });
      return {
        app,
        keyhaven,
        async close() {
          await app.close();
          await keyhaven.close();
        },
      };
    },
    async dispose() {
      if (schema) await dropSchema(schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
