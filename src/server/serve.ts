import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../config.ts';
import { createKeyhaven, type Keyhaven } from '../keyhaven.ts';
import { buildServer, closeServer } from './app.ts';
import { ensureAdminToken } from './auth.ts';

/**
 * What `keyhaven serve` (and `npm start`) runs: configuration from the environment, the composition root
 * (which creates the data directory and master key file of the embedded default), the admin token, and a
 * listening server. The generated admin token is printed here and nowhere else.
 */
export interface RunningService {
  url: string;
  server: FastifyInstance;
  keyhaven: Keyhaven;
  close(): Promise<void>;
}

export async function startService({
  env = process.env,
  print = (line: string) => process.stdout.write(`${line}\n`),
  warn = (line: string) => process.stderr.write(`${line}\n`),
}: {
  env?: Readonly<Record<string, string | undefined>>;
  print?: (line: string) => void;
  warn?: (line: string) => void;
} = {}): Promise<RunningService> {
  const config = loadConfig(env);
  const keyhaven = await createKeyhaven({ config, warn });
  let server: FastifyInstance | undefined;
  try {
    const admin = await ensureAdminToken(keyhaven.database.db, config.adminToken);
    const { enabled, leaseMs, pollIntervalMs, firstPollMs } = config.videoWorker;
    server = await buildServer({
      keyhaven,
      adminTokenHash: admin.hash,
      videoWorker: { enabled, leaseMs, pollIntervalMs, initialPollDelayMs: firstPollMs },
    });
    await server.listen({ port: config.port, host: config.host });
    const address = server.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    print(`Keyhaven listening on ${url} (API reference: ${url}/docs)`);
    if (admin.generated) {
      print(`Admin token (shown once, only its hash is stored): ${admin.generated}`);
    } else if (config.adminToken === undefined) {
      print(
        'Admin token: the one generated on first start (stored as a hash); set KEYHAVEN_ADMIN_TOKEN to use another.',
      );
    }
    const running = server;
    return { url, server: running, keyhaven, close: () => closeServer(running, keyhaven) };
  } catch (error) {
    if (server) await closeServer(server, keyhaven);
    else await keyhaven.close();
    throw error;
  }
}
