import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { createKeyhaven, type Keyhaven } from '../../src/keyhaven.ts';
import { buildServer, type ServerOptions } from '../../src/server/app.ts';
import { ensureAdminToken } from '../../src/server/auth.ts';
import { type Simulator, simulatorEnvironment } from '../../src/simulator/index.ts';
import { type DatabaseTarget, dropSchema, freshSchema, postgresUrl } from './databases.ts';

/**
 * An in-process Keyhaven server for route tests: a fresh database of the given target, providers pointed
 * at the simulator, a generated admin token, and every log line captured.
 */
export interface TestServer {
  app: FastifyInstance;
  keyhaven: Keyhaven;
  adminToken: string;
  /** Every log line written so far, as raw text. */
  logs(): string;
  close(): Promise<void>;
}

export async function startTestServer({
  target,
  simulator,
  clock,
  env = {},
  options = {},
}: {
  target: DatabaseTarget['name'];
  simulator: Simulator;
  clock?: () => Date;
  /** More configuration variables (KEYHAVEN_ALLOW_PRIVATE_URLS, KEYHAVEN_RATE_LIMITS, ...). */
  env?: Record<string, string>;
  /** More server options (events, usage, ...). */
  options?: Partial<Omit<ServerOptions, 'keyhaven' | 'adminTokenHash' | 'logger' | 'clock'>>;
}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-server-'));
  const schema = target === 'postgres' ? freshSchema() : undefined;
  const keyhaven = await createKeyhaven({
    config: loadConfig({
      ...simulatorEnvironment(simulator),
      KEYHAVEN_DATA_DIR: dataDir,
      KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
      ...(target === 'postgres' && schema
        ? { DATABASE_URL: postgresUrl, KEYHAVEN_DATABASE_SCHEMA: schema }
        : {}),
      ...env,
    }),
    warn: () => {},
  });
  const admin = await ensureAdminToken(keyhaven.database.db, undefined);
  if (!admin.generated) throw new Error('a fresh database should generate an admin token');
  let captured = '';
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    captured += chunk.toString('utf8');
  });
  const app = await buildServer({
    keyhaven,
    adminTokenHash: admin.hash,
    logger: { level: 'trace', stream },
    ...(clock ? { clock } : {}),
    ...options,
  });
  return {
    app,
    keyhaven,
    adminToken: admin.generated,
    logs: () => captured,
    async close() {
      await app.close();
      await keyhaven.close();
      if (schema) await dropSchema(schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
