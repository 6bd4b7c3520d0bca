import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import { isKeyhavenError } from '../errors.ts';
import { defaultPriceTable } from '../providers/prices/index.ts';
import { createBudgets, NO_BUDGET_CACHE_MS } from './budgets.ts';

/**
 * Calls of users without a budget do not ask the database each time: a budget set on the same instance
 * applies to the very next call, one set on another instance within the cache window.
 */
describe.each(databaseTargets)('users without a budget on $name', (target) => {
  let database: TestDatabase;
  const call = (userId: string) => ({
    userId,
    provider: 'openai',
    method: 'POST',
    path: '/chat/completions',
    model: 'gpt-4o',
    body: { model: 'gpt-4o', max_tokens: 1_000 },
    bodyBytes: 60,
  });
  // Far less than one call's estimate: a hard budget of this refuses the call.
  const tiny = { amountUsd: 0.000001, thresholds: [], mode: 'hard' as const };

  beforeAll(async () => {
    database = await target.open();
  });
  afterAll(async () => {
    await database.close();
  });

  const budgets = (noBudgetCacheMs: number) =>
    createBudgets({
      db: database.db,
      prices: defaultPriceTable,
      events: { emit: async () => {} },
      noBudgetCacheMs,
    });

  it('keeps the window at one second', () => {
    expect(NO_BUDGET_CACHE_MS).toBeLessThanOrEqual(1_000);
  });

  it('enforces a budget set on the same instance at once', async () => {
    const instance = budgets(60_000);
    await expect(instance.reserveCall(call('ines'))).resolves.toBeUndefined();
    await instance.set('ines', tiny);
    await expect(instance.reserveCall(call('ines'))).rejects.toSatisfy((error) =>
      isKeyhavenError(error, 'budget_exceeded'),
    );
  });

  it('enforces a budget set on another instance once the window has passed', async () => {
    const here = budgets(200);
    const elsewhere = budgets(200);
    await expect(here.reserveCall(call('jude'))).resolves.toBeUndefined();
    await elsewhere.set('jude', tiny);
    await delay(250);
    await expect(here.reserveCall(call('jude'))).rejects.toSatisfy((error) =>
      isKeyhavenError(error, 'budget_exceeded'),
    );
  });
});
