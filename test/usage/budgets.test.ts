import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKeyhavenError } from '../../src/errors.ts';
import { defaultPriceTable } from '../../src/providers/prices/index.ts';
import { type Simulator, startProviderSimulator } from '../../src/simulator/index.ts';
import {
  type BudgetReservation,
  costOfRecord,
  createBudgets,
  type UsageRecord,
} from '../../src/usage/index.ts';
import type { UsageMeter } from '../../src/usage/meter.ts';
import type { EventSink, KeyhavenEvent } from '../../src/webhooks/events.ts';
import { GENEROUS_LIMITS, simulatorKey } from '../gateway/support.ts';
import { databaseTargets } from '../support/databases.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/**
 * Budgets: the routes (validation, ownership, figures), refusals before any upstream call on every route
 * that spends, unpriced models under hard and soft budgets, thresholds sent once per month across two
 * instances, and reservations that expire when they are never settled.
 */
let now = new Date('2026-12-10T12:00:00Z');
const clock = () => now;

function usageOf(parts: Partial<UsageRecord> & Pick<UsageRecord, 'userId'>): UsageRecord {
  return {
    provider: 'openai',
    model: 'gpt-4o',
    credentialVersion: 1,
    requestId: 'req_test',
    route: 'passthrough',
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    reasoningTokens: 0,
    videoSeconds: 0,
    images: 0,
    status: 200,
    latencyMs: 10,
    occurredAt: now,
    ...parts,
  };
}

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  max_tokens: 16,
  messages: [{ role: 'user', content: 'Say hello' }],
  ...extra,
});

/** Every provider's generation call, plain and streamed: [label, url, body]. */
const SPENDING_CALLS: [string, string, Record<string, unknown>][] = [
  ['openai', '/v1/openai/chat/completions', chat('gpt-4o-mini')],
  ['openai stream', '/v1/openai/chat/completions', chat('gpt-4o-mini', { stream: true })],
  ['anthropic', '/v1/anthropic/v1/messages', chat('claude-haiku-4-5')],
  ['anthropic stream', '/v1/anthropic/v1/messages', chat('claude-haiku-4-5', { stream: true })],
  [
    'gemini',
    '/v1/gemini/v1beta/models/gemini-2.5-flash:generateContent',
    { contents: [{ parts: [{ text: 'Say hello' }] }], generationConfig: { maxOutputTokens: 16 } },
  ],
  [
    'gemini stream',
    '/v1/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    { contents: [{ parts: [{ text: 'Say hello' }] }], generationConfig: { maxOutputTokens: 16 } },
  ],
  ['mistral', '/v1/mistral/v1/chat/completions', chat('mistral-small-latest')],
  ['mistral stream', '/v1/mistral/v1/chat/completions', chat('mistral-small-latest', { stream: true })],
];

function tokenHeaders(url: string, token: string): Record<string, string> {
  if (url.startsWith('/v1/anthropic')) return { 'x-api-key': token, 'content-type': 'application/json' };
  if (url.startsWith('/v1/gemini')) return { 'x-goog-api-key': token, 'content-type': 'application/json' };
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
}

describe.each(databaseTargets)('budgets on $name', ({ name }) => {
  let simulator: Simulator;
  let server: TestServer;
  const events: KeyhavenEvent[] = [];
  const usage: UsageRecord[] = [];
  const meter: UsageMeter = { record: (record) => usage.push(record), flush: async () => {} };
  const sink: EventSink = {
    emit: async (event) => {
      events.push(event);
    },
  };
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
  let sequence = 0;

  async function newUser(providers: readonly string[] = []): Promise<{ userId: string; token: string }> {
    sequence += 1;
    const userId = `budget-user-${sequence}`;
    for (const provider of providers) {
      const stored = await server.app.inject({
        method: 'PUT',
        url: `/v1/users/${userId}/credentials/${provider}`,
        headers: admin(),
        payload: { credentials: { apiKey: simulatorKey(provider) } },
      });
      expect(stored.statusCode, stored.body).toBe(200);
    }
    const minted = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/tokens`,
      headers: admin(),
      payload: {},
    });
    return { userId, token: minted.json().token };
  }

  const putBudget = (userId: string, payload: unknown, headers: Record<string, string> = admin()) =>
    server.app.inject({
      method: 'PUT',
      url: `/v1/users/${userId}/budget`,
      headers,
      payload: payload as object,
    });
  const getBudget = (userId: string, headers: Record<string, string> = admin()) =>
    server.app.inject({ method: 'GET', url: `/v1/users/${userId}/budget`, headers });

  /** Waits until no reservation of the user is outstanding (settlement runs after the response). */
  async function settled(userId: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 3_000;
    for (;;) {
      const body = (await getBudget(userId)).json();
      if (body.reservedMicroUsd === 0 || Date.now() > deadline) return body;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    server = await startTestServer({
      target: name,
      simulator,
      clock,
      env: { KEYHAVEN_RATE_LIMITS: GENEROUS_LIMITS },
      options: { usage: meter, events: sink, videoWorker: { enabled: false } },
    });
  });
  afterAll(async () => {
    await server?.close();
    await simulator?.close();
  });

  it('sets, reads and replaces a budget, with defaults and this month’s figures', async () => {
    const { userId } = await newUser();
    expect((await getBudget(userId)).statusCode).toBe(404);
    const created = await putBudget(userId, { amountUsd: 25 });
    expect(created.statusCode, created.body).toBe(200);
    expect(created.json()).toMatchObject({
      userId,
      amountUsd: 25,
      thresholds: [50, 80, 100],
      mode: 'hard',
      month: '2026-12',
      periodStart: '2026-12-01T00:00:00.000Z',
      periodEnd: '2027-01-01T00:00:00.000Z',
      spentUsd: 0,
      reservedUsd: 0,
      remainingUsd: 25,
      amountMicroUsd: 25_000_000,
      exhausted: false,
    });
    const replaced = await putBudget(userId, { amountUsd: 7.5, thresholds: [90, 10], mode: 'soft' });
    expect(replaced.json()).toMatchObject({ amountUsd: 7.5, thresholds: [10, 90], mode: 'soft' });
    expect((await getBudget(userId)).json()).toMatchObject({ amountUsd: 7.5, thresholds: [10, 90] });
    const removed = await server.app.inject({
      method: 'DELETE',
      url: `/v1/users/${userId}/budget`,
      headers: admin(),
    });
    expect(removed.statusCode).toBe(204);
    expect((await getBudget(userId)).statusCode).toBe(404);
  });

  it('refuses bad budgets with 400 invalid_request naming the field', async () => {
    const { userId } = await newUser();
    const bad: [unknown, string][] = [
      [{}, 'amountUsd'],
      [{ amountUsd: 0 }, 'amountUsd'],
      [{ amountUsd: -5 }, 'amountUsd'],
      [{ amountUsd: '10' }, 'amountUsd'],
      [{ amountUsd: 1e12 }, 'amountUsd'],
      [{ amountUsd: 10, thresholds: [0] }, 'thresholds'],
      [{ amountUsd: 10, thresholds: [50, 50] }, 'thresholds'],
      [{ amountUsd: 10, thresholds: [50.5] }, 'thresholds'],
      [{ amountUsd: 10, thresholds: 'fifty' }, 'thresholds'],
      [{ amountUsd: 10, mode: 'strict' }, 'mode'],
      [{ amountUsd: 10, currency: 'EUR' }, 'currency'],
    ];
    for (const [payload, field] of bad) {
      const response = await putBudget(userId, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.code).toBe('invalid_request');
      expect(response.json().error.message).toContain(field);
    }
    expect((await getBudget(userId)).statusCode).toBe(404);
  });

  it("answers 404 to another user's budget, 200 to the owner and to the admin", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const asBob = { authorization: `Bearer ${bob.token}` };
    const asAlice = { authorization: `Bearer ${alice.token}` };
    expect((await putBudget(alice.userId, { amountUsd: 10 }, asAlice)).statusCode).toBe(200);
    expect((await getBudget(alice.userId, asAlice)).statusCode).toBe(200);
    const foreignPut = await putBudget(alice.userId, { amountUsd: 1000 }, asBob);
    expect(foreignPut.statusCode).toBe(404);
    expect((await getBudget(alice.userId, asBob)).statusCode).toBe(404);
    expect((await getBudget(alice.userId)).json().amountUsd).toBe(10);
    expect((await getBudget(alice.userId, {})).statusCode).toBe(401);
    // Deleting the user removes the budget.
    const deleted = await server.app.inject({
      method: 'DELETE',
      url: `/v1/users/${alice.userId}`,
      headers: admin(),
    });
    expect(deleted.statusCode).toBe(204);
    const left = await server.keyhaven.database.db
      .selectFrom('budgets')
      .select('user_id')
      .where('user_id', '=', alice.userId)
      .execute();
    expect(left).toEqual([]);
  });

  let spender: Promise<{ userId: string; token: string }> | undefined;
  it.each(SPENDING_CALLS)(
    'refuses %s with 402 before any upstream call once the budget is used up',
    async (_label, url, body) => {
      // One user for every provider, with a budget of one micro-dollar: no priced call fits.
      spender ??= newUser(['openai', 'anthropic', 'google-gemini', 'mistral']).then(async (user) => {
        expect((await putBudget(user.userId, { amountUsd: 0.000001 })).statusCode).toBe(200);
        return user;
      });
      const { userId, token } = await spender;
      const before = simulator.requests.length;
      const usageBefore = usage.length;
      const response = await server.app.inject({
        method: 'POST',
        url,
        headers: tokenHeaders(url, token),
        payload: body,
      });
      expect(response.statusCode, response.body).toBe(402);
      expect(response.json().error).toMatchObject({ code: 'budget_exceeded' });
      expect(response.json().error.details).toMatchObject({ month: '2026-12', amountUsd: 0.000001 });
      expect(response.json().error.message).toContain('monthly budget of $0.000001 for 2026-12');
      expect(simulator.requests.length).toBe(before);
      expect(usage.length).toBe(usageBefore);
      // Calls that spend nothing still pass.
      const listing = await server.app.inject({
        method: 'GET',
        url: '/v1/openai/models',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(listing.statusCode).toBe(200);
      expect((await getBudget(userId)).json()).toMatchObject({ spentMicroUsd: 0, reservedMicroUsd: 0 });
    },
  );

  it('reserves while a call runs and then charges its real cost, until the budget is used up', async () => {
    const { userId, token } = await newUser(['openai']);
    expect((await putBudget(userId, { amountUsd: 0.0004, thresholds: [25, 50] })).statusCode).toBe(200);
    const headers = tokenHeaders('/v1/openai', token);
    simulator.addFault({ provider: 'openai', latencyMs: 1_500, count: 1 });
    const running = server.app.inject({
      method: 'POST',
      url: '/v1/openai/chat/completions',
      headers,
      payload: chat('gpt-4o', { max_tokens: 10 }),
    });
    let during = (await getBudget(userId)).json();
    for (let wait = 0; during.reservedMicroUsd === 0 && wait < 100; wait += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      during = (await getBudget(userId)).json();
    }
    // 10 output tokens × 10 + the input estimate × 2.5 (micro-USD): more than the output alone.
    expect(during.reservedMicroUsd).toBeGreaterThan(100);
    expect(during.spentMicroUsd).toBe(0);
    const first = await running;
    expect(first.statusCode, first.body).toBe(200);
    const record = usage.find((entry) => entry.requestId === first.headers['x-request-id']);
    if (!record) throw new Error('no usage record');
    const cost = costOfRecord(defaultPriceTable, record);
    expect(cost).toBe(Math.round(record.inputTokens * 2.5 + record.outputTokens * 10));
    const after = await settled(userId);
    expect(after).toMatchObject({ spentMicroUsd: cost, reservedMicroUsd: 0 });

    // Calls go through until the next one's estimate no longer fits, then 402.
    let status = 200;
    let calls = 0;
    while (status === 200 && calls < 50) {
      const response = await server.app.inject({
        method: 'POST',
        url: '/v1/openai/chat/completions',
        headers,
        payload: chat('gpt-4o', { max_tokens: 10 }),
      });
      status = response.statusCode;
      calls += 1;
      await settled(userId);
    }
    expect(status).toBe(402);
    const final = (await getBudget(userId)).json();
    expect(final.spentMicroUsd).toBeLessThanOrEqual(400);
    expect(final.spentMicroUsd).toBeGreaterThan(400 - during.reservedMicroUsd);
    // Through the server's event sink: each threshold once, and one budget.exceeded for the refusal.
    const mine = events.filter((event) => event.userId === userId);
    expect(
      mine.filter((event) => event.type === 'budget.threshold').map((event) => event.data.thresholdPercent),
    ).toEqual([25, 50]);
    expect(mine.filter((event) => event.type === 'budget.exceeded')).toHaveLength(1);
  });

  it('reserves video jobs at duration × price and refuses single and batch submissions that do not fit', async () => {
    const { userId, token } = await newUser(['google-veo']);
    const headers = { authorization: `Bearer ${token}` };
    const job = {
      provider: 'google-veo',
      model: 'veo-3.0-fast-generate-001',
      prompt: 'a lighthouse',
      durationSeconds: 8,
    };
    expect((await putBudget(userId, { amountUsd: 2 })).statusCode).toBe(200);
    const before = simulator.requests.length;
    const first = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/videos`,
      headers,
      payload: job,
    });
    expect(first.statusCode, first.body).toBe(202);
    // 8 s × $0.10 (720p).
    expect((await getBudget(userId)).json()).toMatchObject({ reservedMicroUsd: 800_000, spentMicroUsd: 0 });
    const batch = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/videos/batch`,
      headers,
      payload: { requests: [job, job] },
    });
    expect(batch.statusCode, batch.body).toBe(402);
    expect(batch.json().error.code).toBe('budget_exceeded');
    const second = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/videos`,
      headers,
      payload: job,
    });
    expect(second.statusCode).toBe(202);
    const third = await server.app.inject({
      method: 'POST',
      url: `/v1/users/${userId}/videos`,
      headers,
      payload: job,
    });
    expect(third.statusCode).toBe(402);
    const listed = await server.app.inject({ method: 'GET', url: `/v1/users/${userId}/videos`, headers });
    expect(listed.json().jobs).toHaveLength(2);
    expect((await getBudget(userId)).json()).toMatchObject({ reservedMicroUsd: 1_600_000, exhausted: false });
    // The worker is off here: nothing reached the provider.
    expect(simulator.requests.length).toBe(before);
  });

  it('refuses an unpriced model under a hard budget before the call, and lets it through under a soft one', async () => {
    const { userId, token } = await newUser(['openai']);
    const call = () =>
      server.app.inject({
        method: 'POST',
        url: '/v1/openai/chat/completions',
        headers: tokenHeaders('/v1/openai', token),
        payload: chat('gpt-3.5-turbo-unpriced'),
      });
    expect((await putBudget(userId, { amountUsd: 5 })).statusCode).toBe(200);
    const before = simulator.requests.length;
    const refused: LightMyRequestResponse = await call();
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error).toMatchObject({
      code: 'unsupported_request',
      details: { reason: 'unpriced_under_hard_budget', model: 'gpt-3.5-turbo-unpriced' },
    });
    expect(simulator.requests.length).toBe(before);
    expect((await putBudget(userId, { amountUsd: 5, mode: 'soft' })).statusCode).toBe(200);
    const allowed = await call();
    expect(simulator.requests.length).toBe(before + 1);
    expect(allowed.statusCode).not.toBe(402);
  });

  it('sends each threshold once per month across two instances, and budget.exceeded once', async () => {
    const { userId } = await newUser();
    const sent: KeyhavenEvent[] = [];
    const recordingSink: EventSink = {
      emit: async (event) => {
        sent.push(event);
      },
    };
    const options = {
      db: server.keyhaven.database.db,
      prices: defaultPriceTable,
      events: recordingSink,
      clock,
    };
    const a = createBudgets(options);
    const b = createBudgets(options);
    await a.set(userId, { amountUsd: 1, thresholds: [50, 80, 100], mode: 'hard' });
    const call = {
      userId,
      provider: 'openai',
      method: 'POST',
      path: '/chat/completions',
      model: 'gpt-4o',
      body: { model: 'gpt-4o', max_tokens: 1 },
      bodyBytes: 30,
    };
    // 200 000 input tokens of gpt-4o = $0.50.
    const spend = async (instance: typeof a, inputTokens: number) => {
      const reservation = await instance.reserveCall(call);
      if (!reservation) throw new Error('a budget exists: a reservation was expected');
      instance.settleCall(reservation, usageOf({ userId, inputTokens }));
      await instance.drain();
    };
    const thresholds = () =>
      sent.filter((event) => event.type === 'budget.threshold').map((event) => event.data.thresholdPercent);
    await spend(a, 200_000);
    expect(thresholds()).toEqual([50]);
    await spend(b, 40_000);
    expect(thresholds()).toEqual([50]);
    await spend(b, 80_000);
    expect(thresholds()).toEqual([50, 80]);
    expect(sent[0]).toMatchObject({
      type: 'budget.threshold',
      userId,
      data: { month: '2026-12', thresholdPercent: 50, amountUsd: 1, spentUsd: 0.5, mode: 'hard' },
    });
    // Both instances settle past 100% at once: one 100 and one exceeded in all.
    const [first, second] = await Promise.all([a.reserveCall(call), b.reserveCall(call)]);
    if (!first || !second) throw new Error('reservations expected');
    a.settleCall(first, usageOf({ userId, inputTokens: 40_000 }));
    b.settleCall(second, usageOf({ userId, inputTokens: 40_000 }));
    await Promise.all([a.drain(), b.drain()]);
    expect(thresholds()).toEqual([50, 80, 100]);
    expect(sent.filter((event) => event.type === 'budget.exceeded')).toHaveLength(1);
    await expect(a.reserveCall(call)).rejects.toSatisfy((error) => isKeyhavenError(error, 'budget_exceeded'));
    await expect(b.reserveCall(call)).rejects.toSatisfy((error) => isKeyhavenError(error, 'budget_exceeded'));
    expect(sent.filter((event) => event.type === 'budget.exceeded')).toHaveLength(1);
    expect((await a.get(userId)).spentMicroUsd).toBe(1_000_000);

    // A new month starts from nothing, and its thresholds fire again.
    const saved = now;
    now = new Date('2027-01-01T00:00:05Z');
    try {
      expect((await a.get(userId)).spentMicroUsd).toBe(0);
      await spend(b, 240_000);
      expect(thresholds()).toEqual([50, 80, 100, 50]);
      expect(sent.at(-1)?.data.month).toBe('2027-01');
    } finally {
      now = saved;
    }
  });

  it('charges a finished video job its real cost and releases a failed one', async () => {
    const { userId } = await newUser();
    const budgets = createBudgets({
      db: server.keyhaven.database.db,
      prices: defaultPriceTable,
      events: sink,
      clock,
    });
    await budgets.set(userId, { amountUsd: 10, thresholds: [], mode: 'hard' });
    const attempts = [
      { provider: 'google-veo', model: 'veo-3.0-fast-generate-001', estimatedCost: 800_000 },
      { provider: 'runway', model: 'gen4_turbo', estimatedCost: 400_000 },
    ];
    const reserved = await budgets.reserveVideoJobs(userId, [
      { id: 'vid_succeeds', attempts },
      { id: 'vid_fails', attempts },
    ]);
    // Each job holds its dearest attempt.
    expect(reserved?.map((reservation) => reservation.estimateMicroUsd)).toEqual([800_000, 800_000]);
    expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: 1_600_000 });
    // Failed over to Runway, 5 s at $0.05.
    await budgets.settleVideoJob(
      userId,
      'vid_succeeds',
      usageOf({ userId, provider: 'runway', model: 'gen4_turbo', route: 'video', videoSeconds: 5 }),
    );
    await budgets.settleVideoJob(userId, 'vid_fails', undefined);
    expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: 0, spentMicroUsd: 250_000 });
    // An unpriced attempt is refused under a hard budget, and nothing is reserved.
    await expect(
      budgets.reserveVideoJobs(userId, [
        { id: 'vid_unpriced', attempts: [{ provider: 'luma', model: 'ray-2', estimatedCost: null }] },
      ]),
    ).rejects.toSatisfy((error) => isKeyhavenError(error, 'unsupported_request'));
    expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: 0 });
  });

  it('stops counting a reservation that is never settled once it expires', async () => {
    const { userId } = await newUser();
    const budgets = createBudgets({
      db: server.keyhaven.database.db,
      prices: defaultPriceTable,
      events: sink,
      clock,
      callReservationMs: 60_000,
    });
    const call = {
      userId,
      provider: 'openai',
      method: 'POST',
      path: '/chat/completions',
      model: 'gpt-4o',
      body: { model: 'gpt-4o', max_tokens: 100 },
      bodyBytes: 40,
    };
    const estimate = budgets.estimateCall(call);
    if (estimate === null) throw new Error('gpt-4o is priced');
    // Room for one reservation, not two.
    await budgets.set(userId, { amountUsd: (estimate * 1.5) / 1_000_000, thresholds: [], mode: 'hard' });
    const crashed: BudgetReservation | undefined = await budgets.reserveCall(call);
    expect(crashed?.estimateMicroUsd).toBe(estimate);
    await expect(budgets.reserveCall(call)).rejects.toSatisfy((error) =>
      isKeyhavenError(error, 'budget_exceeded'),
    );
    const saved = now;
    now = new Date(saved.getTime() + 61_000);
    try {
      const next = await budgets.reserveCall(call);
      expect(next).toBeDefined();
      expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: estimate, spentMicroUsd: 0 });
      // The crashed call's late settlement is still charged, and frees nothing twice.
      if (crashed) budgets.settleCall(crashed, usageOf({ userId, inputTokens: 10 }));
      await budgets.drain();
      expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: estimate, spentMicroUsd: 25 });
      // A success whose usage could not be read is charged its estimate, never 0.
      if (next) budgets.settleCall(next, usageOf({ userId }));
      await budgets.drain();
      expect(await budgets.get(userId)).toMatchObject({ reservedMicroUsd: 0, spentMicroUsd: 25 + estimate });
    } finally {
      now = saved;
    }
  });
});
