import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshSchema, postgresUrl } from '../../test/support/databases.ts';
import { fakeApiKey, randomUserId, singleKeyKms } from '../../test/support/vault.ts';
import { isKeyhavenError } from '../errors.ts';
import { type Database, openDatabase } from '../store/index.ts';
import { createVault, type Vault } from './index.ts';
import { type CacheInvalidation, createPostgresInvalidation } from './invalidation.ts';

/**
 * Two instances on one PostgreSQL database, each with its own pool, caches and listener: a credential
 * changed through one is what the other reveals within a second (its caches would otherwise serve the
 * old one for their whole TTL).
 */
describe.skipIf(!postgresUrl)('cache invalidation between instances on PostgreSQL', () => {
  const schema = freshSchema();
  const url = postgresUrl ?? '';
  const databases: Database[] = [];
  const listeners: CacheInvalidation[] = [];
  let first: Vault;
  let second: Vault;

  async function instance(): Promise<Vault> {
    const database = await openDatabase({ databaseUrl: url, schema });
    databases.push(database);
    const invalidation = await createPostgresInvalidation({ databaseUrl: url, schema, reconnectDelayMs: 50 });
    listeners.push(invalidation);
    // A long record TTL: without invalidation the second instance would keep serving what it cached.
    return createVault({
      db: database.db,
      kms: singleKeyKms(),
      invalidation,
      recordCache: { ttlMs: 60_000 },
    });
  }

  function database(index: number) {
    const found = databases[index];
    if (!found) throw new Error('no database opened');
    return found.db;
  }

  async function eventually<T>(read: () => Promise<T>, accept: (value: T) => boolean): Promise<number> {
    const started = performance.now();
    for (;;) {
      if (accept(await read())) return performance.now() - started;
      if (performance.now() - started > 1000) throw new Error('not within 1 second');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  const revealed = (vault: Vault, userId: string, provider = 'openai') =>
    vault
      .reveal({ userId, provider, purpose: 'proxy' })
      .then((credential) => credential.credentials.apiKey?.reveal())
      .catch((error: unknown) => (isKeyhavenError(error, 'not_found') ? 'not_found' : Promise.reject(error)));

  beforeAll(async () => {
    first = await instance();
    second = await instance();
  });
  afterAll(async () => {
    for (const vault of [first, second]) await vault?.close();
    for (const listener of listeners) await listener.close();
    for (const database of databases) await database.close();
    const cleanup = await openDatabase({ databaseUrl: url, migrate: false });
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(cleanup.db);
    await cleanup.close();
  });

  it('a rotation, a removal and a shred through one instance reach the other within a second', async () => {
    const userId = randomUserId('shared');
    const original = fakeApiKey('original');
    await first.store({ userId, provider: 'openai', credentials: { apiKey: original }, validate: false });
    expect(await revealed(second, userId)).toBe(original);

    const rotated = fakeApiKey('rotated');
    await first.store({ userId, provider: 'openai', credentials: { apiKey: rotated }, validate: false });
    await eventually(
      () => revealed(second, userId),
      (value) => value === rotated,
    );

    await first.remove({ userId, provider: 'openai' });
    await eventually(
      () => revealed(second, userId),
      (value) => value === 'not_found',
    );

    await first.store({ userId, provider: 'mistral', credentials: { apiKey: original }, validate: false });
    expect(await revealed(second, userId, 'mistral')).toBe(original);
    await first.shred({ userId });
    await eventually(
      () => revealed(second, userId, 'mistral'),
      (value) => value === 'not_found',
    );
  });

  it('drops everything and listens again after its connection is lost', async () => {
    const userId = randomUserId('reconnect');
    const original = fakeApiKey('before');
    await first.store({ userId, provider: 'openai', credentials: { apiKey: original }, validate: false });
    expect(await revealed(second, userId)).toBe(original);
    // Kill every listening connection of this schema's channel (both instances' listeners).
    await sql`select pg_terminate_backend(pid) from pg_stat_activity
              where query ilike ${`LISTEN "keyhaven_cache_${schema}"%`}`.execute(database(0));
    const rotated = fakeApiKey('after');
    await first.store({ userId, provider: 'openai', credentials: { apiKey: rotated }, validate: false });
    // Whether the notice was missed or not, the reset on reconnect forgets the old value.
    await eventually(
      () => revealed(second, userId),
      (value) => value === rotated,
    );
    const again = fakeApiKey('again');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await first.store({ userId, provider: 'openai', credentials: { apiKey: again }, validate: false });
    await eventually(
      () => revealed(second, userId),
      (value) => value === again,
    );
  });
});
