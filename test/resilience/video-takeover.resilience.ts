import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey } from '../../src/crypto/index.ts';
import {
  type Simulator,
  simulatorEnvironment,
  simulatorKeys,
  startProviderSimulator,
} from '../../src/simulator/index.ts';
import { dropSchema, freshSchema, postgresUrl } from '../support/databases.ts';
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts';
import { submissions } from '../videos/support.ts';

/**
 * Two instances on one PostgreSQL. The first takes video jobs and submits them to the provider; it is
 * then killed with SIGKILL while the jobs run. The second takes them over once their leases expire and
 * finishes every one, and the provider has seen exactly one submission per job.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const JOBS = 8;

describe.skipIf(!postgresUrl)('video jobs of a killed instance', () => {
  let simulator: Simulator;
  const schema = freshSchema();
  const adminToken = `kha_${randomBytes(32).toString('base64url')}`;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    env = {
      ...simulatorEnvironment(simulator),
      DATABASE_URL: postgresUrl ?? '',
      KEYHAVEN_DATABASE_SCHEMA: schema,
      KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
      KEYHAVEN_ADMIN_TOKEN: adminToken,
      KEYHAVEN_VIDEO_LEASE_MS: '3000',
      KEYHAVEN_VIDEO_POLL_INTERVAL_MS: '100',
      KEYHAVEN_VIDEO_FIRST_POLL_MS: '1500',
      KEYHAVEN_RATE_LIMITS: JSON.stringify({ runway: { perMinute: 1000, perHour: 10000 } }),
    };
  });
  afterAll(async () => {
    for (const service of services) if (service.child.exitCode === null) await service.kill();
    await simulator?.close();
    await dropSchema(schema);
  });

  it('are finished by the other instance after lease expiry, each submitted upstream once', async () => {
    const first = await startServiceProcess(env);
    services.push(first);
    const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
    const stored = await fetch(`${first.url}/v1/users/vera/credentials/runway`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ credentials: { apiKey: simulatorKeys().runway?.[0] } }),
    });
    expect(stored.status).toBe(200);
    const ids: string[] = [];
    for (let index = 0; index < JOBS; index++) {
      const response = await fetch(`${first.url}/v1/users/vera/videos`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ provider: 'runway', prompt: `a lighthouse, take ${index}` }),
      });
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }
    const jobOf = async (url: string, id: string) =>
      (await (await fetch(`${url}/v1/users/vera/videos/${id}`, { headers: admin })).json()) as {
        status: string;
        attempts: { status: string }[];
      };
    // Wait until the first instance has submitted every job (each attempt has its provider operation).
    const submittedBy = Date.now() + 30_000;
    for (;;) {
      const jobs = await Promise.all(ids.map((id) => jobOf(first.url, id)));
      if (jobs.every((job) => job.attempts.some((attempt) => attempt.status === 'running'))) break;
      expect(Date.now(), JSON.stringify(jobs.map((job) => job.status))).toBeLessThan(submittedBy);
      await sleep(50);
    }
    expect(submissions(simulator, 'runway')).toBe(JOBS);
    await first.kill();
    const killedAt = Date.now();

    const second = await startServiceProcess(env);
    services.push(second);
    const doneBy = Date.now() + 60_000;
    let jobs = await Promise.all(ids.map((id) => jobOf(second.url, id)));
    while (!jobs.every((job) => job.status === 'succeeded')) {
      expect(Date.now(), JSON.stringify(jobs.map((job) => job.status))).toBeLessThan(doneBy);
      await sleep(200);
      jobs = await Promise.all(ids.map((id) => jobOf(second.url, id)));
    }
    // Taken over only after the lease ran out, and never submitted again.
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2_000);
    expect(submissions(simulator, 'runway')).toBe(JOBS);
    expect(await second.stop()).toBe(0);
  });
});
