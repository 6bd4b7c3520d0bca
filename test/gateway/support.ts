import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import type { Simulator } from '../../src/simulator/index.ts';
import { simulatorKeys, startProviderSimulator } from '../../src/simulator/index.ts';
import type { UsageMeter, UsageRecord } from '../../src/usage/meter.ts';
import type { EventSink, KeyhavenEvent } from '../../src/webhooks/events.ts';
import type { DatabaseTarget } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * One gateway under test: the simulator, a Keyhaven server listening on a real port with a recording
 * usage meter and event sink, and helpers to connect a user's providers and mint their token.
 */
export interface GatewayFixture {
  simulator: Simulator;
  server: TestServer;
  url: string;
  usage: UsageRecord[];
  events: KeyhavenEvent[];
  /** A new user with the simulator's keys stored for these providers, and a user token. */
  user(providers?: readonly string[]): Promise<{ userId: string; token: string }>;
  /** Resolves once a usage record for the request id exists (the meter is handed it when the response ends). */
  usageFor(requestId: string | null | undefined, timeoutMs?: number): Promise<UsageRecord>;
  close(): Promise<void>;
}

export const DEFAULT_PROVIDERS = ['openai', 'anthropic', 'google-gemini', 'mistral'] as const;

/** Limits high enough that no test but the rate-limit one meets them. */
export const GENEROUS_LIMITS = JSON.stringify(
  Object.fromEntries(
    DEFAULT_PROVIDERS.map((provider) => [provider, { perMinute: 10_000, perHour: 100_000 }]),
  ),
);

export function simulatorKey(provider: string): string {
  const key = simulatorKeys()[provider]?.[0];
  if (!key) throw new Error(`the simulator has no key for ${provider}`);
  return key;
}

export async function startGateway({
  target,
  env = {},
  simulator: given,
  storedUsage = false,
}: {
  target: DatabaseTarget['name'];
  env?: Record<string, string>;
  simulator?: Simulator;
  /** Usage goes to the server's own store (the database), not to the recording meter (`usage` stays empty). */
  storedUsage?: boolean;
}): Promise<GatewayFixture> {
  const simulator = given ?? (await startProviderSimulator({ port: 0 }));
  const usage: UsageRecord[] = [];
  const events: KeyhavenEvent[] = [];
  const meter: UsageMeter = { record: (record) => usage.push(record), flush: async () => {} };
  const sink: EventSink = {
    emit: async (event) => {
      events.push(event);
    },
  };
  const redis: Record<string, string> =
    target === 'postgres' && process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL } : {};
  const server = await startTestServer({
    target,
    simulator,
    env: { KEYHAVEN_RATE_LIMITS: GENEROUS_LIMITS, ...redis, ...env },
    options: storedUsage ? { events: sink } : { usage: meter, events: sink },
  });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const address = server.app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${address.port}`;
  const admin = { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' };

  return {
    simulator,
    server,
    url,
    usage,
    events,
    async user(providers = DEFAULT_PROVIDERS) {
      const userId = `user-${randomBytes(6).toString('hex')}`;
      for (const provider of providers) {
        const stored = await request(`${url}/v1/users/${userId}/credentials/${provider}`, {
          method: 'PUT',
          headers: admin,
          body: JSON.stringify({ credentials: { apiKey: simulatorKey(provider) } }),
        });
        if (stored.statusCode !== 200) throw new Error(`storing ${provider}: ${await stored.body.text()}`);
        await stored.body.dump();
      }
      const minted = await request(`${url}/v1/users/${userId}/tokens`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({}),
      });
      const { token } = (await minted.body.json()) as { token: string };
      return { userId, token };
    },
    async usageFor(requestId, timeoutMs = 2_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = usage.find((record) => record.requestId === requestId);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no usage record for ${requestId}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      await server.close();
      if (!given) await simulator.close();
    },
  };
}
