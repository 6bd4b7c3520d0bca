import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import { createTokenService, TOKEN_CACHE_TTL_MS } from './auth.ts';

/** User tokens read from a short cache: revocation here is immediate, elsewhere within the cache's TTL. */
describe.each(databaseTargets)('token service on $name', (target) => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await target.open();
  });
  afterAll(async () => {
    await database.close();
  });

  it('keeps the revocation window at one second', () => {
    expect(TOKEN_CACHE_TTL_MS).toBeLessThanOrEqual(1_000);
  });

  it('refuses a token revoked on this instance at once, though its row was cached', async () => {
    const tokens = createTokenService({ db: database.db, cacheTtlMs: 60_000 });
    const minted = await tokens.mint({ userId: 'ada', ttlSeconds: 600 });
    await expect(tokens.authenticateToken(minted.token)).resolves.toMatchObject({ userId: 'ada' });
    await tokens.revoke({ tokenId: minted.id, principal: { kind: 'admin' } });
    await expect(tokens.authenticateToken(minted.token)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('refuses the tokens of a removed user at once', async () => {
    const tokens = createTokenService({ db: database.db, cacheTtlMs: 60_000 });
    const minted = await tokens.mint({ userId: 'brook', ttlSeconds: 600 });
    await tokens.authenticateToken(minted.token);
    await tokens.removeUser('brook');
    await expect(tokens.authenticateToken(minted.token)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('sees a revocation made by another instance once the cached row expires', async () => {
    const here = createTokenService({ db: database.db, cacheTtlMs: 200 });
    const elsewhere = createTokenService({ db: database.db, cacheTtlMs: 200 });
    const minted = await here.mint({ userId: 'cleo', ttlSeconds: 600 });
    await here.authenticateToken(minted.token);
    await elsewhere.revoke({ tokenId: minted.id, principal: { kind: 'admin' } });
    await delay(250);
    await expect(here.authenticateToken(minted.token)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('checks the secret and the expiry on every request, cached or not', async () => {
    let now = new Date();
    const tokens = createTokenService({ db: database.db, cacheTtlMs: 60_000, clock: () => now });
    const minted = await tokens.mint({ userId: 'dara', ttlSeconds: 60 });
    await tokens.authenticateToken(minted.token);
    const [id] = minted.token.split('.');
    const forged = `${id}.${'A'.repeat(43)}`;
    await expect(tokens.authenticateToken(forged)).rejects.toMatchObject({ code: 'unauthorized' });
    now = new Date(now.getTime() + 61_000);
    await expect(tokens.authenticateToken(minted.token)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
