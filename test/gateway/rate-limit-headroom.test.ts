import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayFixture, startGateway } from './support.ts';

/**
 * The provider's own rate-limit headroom, end to end: calls through the gateway carry the simulator's
 * `x-ratelimit-*` headers, the usage store keeps the newest per user and provider, and the usage API
 * shows it to that user only.
 */
describe('upstream rate-limit headroom through the gateway', () => {
  let fixture: GatewayFixture;
  let alice: { userId: string; token: string };
  let bob: { userId: string; token: string };

  beforeAll(async () => {
    fixture = await startGateway({ target: 'pglite', storedUsage: true });
    alice = await fixture.user(['openai']);
    bob = await fixture.user(['openai']);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  async function chat(token: string) {
    const response = await request(`${fixture.url}/v1/openai/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Say this is a test!' }],
      }),
    });
    await response.body.dump();
    return response.statusCode;
  }

  interface Headroom {
    provider: string;
    credentialVersion: number | null;
    observedAt: string;
    requests?: { limit: number | null; remaining: number; resetAt: string | null };
    tokens?: { limit: number | null; remaining: number; resetAt: string | null };
  }

  async function headroomOf(userId: string): Promise<Headroom[]> {
    const response = await request(`${fixture.url}/v1/users/${userId}/usage/rate-limits`, {
      headers: { authorization: `Bearer ${fixture.server.adminToken}` },
    });
    expect(response.statusCode).toBe(200);
    return ((await response.body.json()) as { rateLimits: Headroom[] }).rateLimits;
  }

  /** The usage store writes in the background (every 250 ms): waits until the API shows what is expected. */
  async function eventually(userId: string, done: (rows: Headroom[]) => boolean): Promise<Headroom[]> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const rows = await headroomOf(userId);
      if (done(rows)) return rows;
      if (Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("keeps the headroom the provider reported for the user's credential, and shows it to that user only", async () => {
    expect(await chat(alice.token)).toBe(200);
    const rows = await eventually(alice.userId, (found) => found.length > 0);
    expect(rows).toHaveLength(1);
    const [openai] = rows;
    expect(openai).toMatchObject({
      provider: 'openai',
      credentialVersion: 1,
      requests: { limit: 5000, remaining: 4999 },
      tokens: { limit: 2_000_000 },
    });
    expect(openai?.tokens?.remaining).toBeLessThan(2_000_000);
    expect(Date.parse(openai?.observedAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(await headroomOf(bob.userId)).toEqual([]);
  });

  it('shows the exhausted window and its reset after the provider refuses a call with 429', async () => {
    fixture.simulator.addFault({ provider: 'openai', status: 429, retryAfterSeconds: 30 });
    try {
      const before = Date.now();
      expect(await chat(alice.token)).toBe(429);
      const rows = await eventually(alice.userId, (found) => found[0]?.requests?.remaining === 0);
      const reset = Date.parse(rows[0]?.requests?.resetAt ?? '');
      expect(rows[0]?.requests).toMatchObject({ limit: 5000, remaining: 0 });
      expect(reset).toBeGreaterThanOrEqual(before + 29_000);
      expect(reset).toBeLessThan(Date.now() + 31_000);
    } finally {
      fixture.simulator.clearFaults();
    }
    // The next successful call replaces it: the newest observation wins.
    expect(await chat(alice.token)).toBe(200);
    const rows = await eventually(alice.userId, (found) => found[0]?.requests?.remaining === 4999);
    expect(rows[0]?.requests?.remaining).toBe(4999);
  });
});
