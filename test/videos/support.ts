import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { createKeyhaven, type Keyhaven } from '../../src/keyhaven.ts';
import { buildServer } from '../../src/server/app.ts';
import { ensureAdminToken } from '../../src/server/auth.ts';
import { type Simulator, simulatorEnvironment } from '../../src/simulator/index.ts';
import type { UsageMeter, UsageRecord } from '../../src/usage/meter.ts';
import type { VideoJob, VideoWorkerOptions } from '../../src/videos/index.ts';
import type { EventSink, KeyhavenEvent } from '../../src/webhooks/events.ts';
import { type DatabaseTarget, dropSchema, freshSchema, postgresUrl } from '../support/databases.ts';

/**
 * A video test environment: one database (a PGlite directory or a PostgreSQL schema) and master key that
 * outlive the servers started on it, so a test can stop a server mid-job and start another one (or two
 * at once on PostgreSQL). Events and usage are recorded in memory.
 */
export const FAST_WORKER: VideoWorkerOptions = {
  pollIntervalMs: 10,
  initialPollDelayMs: 5,
  maxPollDelayMs: 40,
  leaseMs: 10_000,
  requestTimeoutMs: 10_000,
};

export interface VideoServer {
  app: FastifyInstance;
  keyhaven: Keyhaven;
  close(): Promise<void>;
}

export interface Recorded {
  events: KeyhavenEvent[];
  usage: UsageRecord[];
  sink: EventSink;
  meter: UsageMeter;
}

export function recorder(): Recorded {
  const events: KeyhavenEvent[] = [];
  const usage: UsageRecord[] = [];
  return {
    events,
    usage,
    sink: {
      async emit(event) {
        events.push(structuredClone(event));
      },
    },
    meter: { record: (entry) => usage.push(entry), flush: async () => {} },
  };
}

export function videoEnvironment({
  target,
  simulator,
  env = {},
  rateLimits = {},
}: {
  target: DatabaseTarget['name'];
  simulator: Simulator;
  env?: Record<string, string>;
  /** Per-provider limits over the suite's generous defaults. */
  rateLimits?: Record<string, { perMinute?: number; perHour?: number }>;
}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-videos-'));
  const schema = target === 'postgres' ? freshSchema() : undefined;
  const masterKey = generateMasterKey();
  const adminToken = `kha_${randomBytes(32).toString('base64url')}`;
  const servers = new Set<VideoServer>();

  async function start({
    recorded = recorder(),
    worker = FAST_WORKER,
  }: {
    recorded?: Recorded;
    worker?: VideoWorkerOptions;
  } = {}): Promise<VideoServer> {
    const keyhaven = await createKeyhaven({
      config: loadConfig({
        ...simulatorEnvironment(simulator),
        KEYHAVEN_DATA_DIR: dataDir,
        KEYHAVEN_MASTER_KEYS: `v1:${masterKey}`,
        LOG_LEVEL: 'silent',
        // Suites submit more jobs a minute than the providers' default limits allow.
        KEYHAVEN_RATE_LIMITS: JSON.stringify({
          ...Object.fromEntries(
            ['runway', 'luma', 'google-veo'].map((provider) => [
              provider,
              { perMinute: 10_000, perHour: 100_000 },
            ]),
          ),
          ...rateLimits,
        }),
        ...(schema ? { DATABASE_URL: postgresUrl, KEYHAVEN_DATABASE_SCHEMA: schema } : {}),
        ...env,
      }),
      warn: () => {},
    });
    const admin = await ensureAdminToken(keyhaven.database.db, adminToken);
    const app = await buildServer({
      keyhaven,
      adminTokenHash: admin.hash,
      logger: false,
      events: recorded.sink,
      usage: recorded.meter,
      videoWorker: worker,
    });
    const server: VideoServer = {
      app,
      keyhaven,
      async close() {
        if (!servers.delete(server)) return;
        await app.close();
        await keyhaven.close();
      },
    };
    servers.add(server);
    return server;
  }

  return {
    adminToken,
    admin: { authorization: `Bearer ${adminToken}` },
    start,
    async destroy() {
      for (const server of [...servers]) await server.close();
      if (schema) await dropSchema(schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type VideoEnvironment = ReturnType<typeof videoEnvironment>;

export function errorOf(response: LightMyRequestResponse) {
  return response.json<{
    error: { code: string; message: string; requestId: string; details?: Record<string, unknown> };
  }>().error;
}

/** Polls GET until the job reaches one of the statuses (the worker runs in the background). */
export async function waitForJob(
  app: FastifyInstance,
  headers: Record<string, string>,
  userId: string,
  jobId: string,
  until: (job: VideoJob) => boolean = (job) => ['succeeded', 'failed', 'canceled'].includes(job.status),
  timeoutMs = 10_000,
): Promise<VideoJob> {
  const deadline = Date.now() + timeoutMs;
  let job: VideoJob | undefined;
  while (Date.now() < deadline) {
    const response = await app.inject({ url: `/v1/users/${userId}/videos/${jobId}`, headers });
    expect(response.statusCode).toBe(200);
    job = response.json<VideoJob>();
    if (until(job)) return job;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`job ${jobId} did not get there in time; last seen: ${JSON.stringify(job)}`);
}

/** Waits until a condition holds (events are recorded after the job's status is written). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition not met in time');
}

/** Creation requests the simulator received for a provider (one per upstream submission). */
export function submissions(simulator: Simulator, provider: string): number {
  const creation: Record<string, RegExp> = {
    runway: /^\/v1\/(text|image)_to_video/,
    luma: /^\/dream-machine\/v1\/generations(\/video)?$/,
    'google-veo': /:predictLongRunning$/,
  };
  const pattern = creation[provider];
  if (!pattern) throw new Error(`no creation route known for ${provider}`);
  return simulator.requests.filter(
    (request) => request.provider === provider && request.method === 'POST' && pattern.test(request.path),
  ).length;
}
