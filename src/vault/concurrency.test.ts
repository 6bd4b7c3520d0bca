import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import {
  catalogProviders,
  fakeApiKey,
  kmsFor,
  masterKeySet,
  randomUserId,
} from '../../test/support/vault.ts';
import { createDekCache, type Kms } from '../crypto/index.ts';
import { openDatabase } from '../store/index.ts';
import { createVault, type Vault } from './index.ts';

const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Concurrent use of one vault (and, on PostgreSQL, of two vault instances on separate connection pools,
 * as two processes would): racing stores, first stores, reveals during rotations, and security test 14,
 * a bounded-time random mix of store/reveal/rotate/rewrap.
 */
describe.each(databaseTargets)('concurrency on $name', (target) => {
  const keys = masterKeySet(1, 2);
  let database: TestDatabase;
  let vault: Vault;
  const opened: Vault[] = [];

  beforeAll(async () => {
    database = await target.open();
    // Reveal events are flushed every few milliseconds, so flushes race with stores too.
    vault = open();
  });

  afterAll(async () => {
    for (const instance of opened) await instance.close();
    await database?.close();
  });

  function open(versions: number[] = [1, 2], active = 2, db = database.db): Vault {
    const instance = createVault({ db, kms: kmsFor(keys, versions, active), audit: { flushIntervalMs: 2 } });
    opened.push(instance);
    return instance;
  }

  async function revealKey(instance: Vault, userId: string, provider: string) {
    const revealed = await instance.reveal({ userId, provider, purpose: 'proxy' });
    return revealed.credentials.apiKey?.reveal();
  }

  it('25 concurrent stores for one user and provider all succeed as versions 1..25 with one current', async () => {
    const userId = randomUserId('race');
    const apiKeys = Array.from({ length: 25 }, (_, index) => fakeApiKey(`race${index}`));
    const summaries = await Promise.all(
      apiKeys.map((apiKey) =>
        vault.store({ userId, provider: 'openai', credentials: { apiKey }, validate: false }),
      ),
    );
    const versions = summaries.map((summary) => summary.version ?? 0);
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, index) => index + 1));
    const rows = await database.db
      .selectFrom('credentials')
      .select(['version', 'is_current'])
      .where('user_id', '=', userId)
      .execute();
    expect(rows).toEqual([{ version: 25, is_current: true }]);
    const newest = apiKeys[versions.indexOf(25)];
    expect(await revealKey(vault, userId, 'openai')).toBe(newest);
    expect(await revealKey(open(), userId, 'openai')).toBe(newest);

    const events = await vault.listAudit({ userId, limit: 1000 });
    const storedVersions = events
      .filter((event) => event.action === 'credential.store')
      .map((event) => Number(event.detail.version));
    expect(storedVersions).toEqual(Array.from({ length: 25 }, (_, index) => index + 1));
    expect(events.filter((event) => event.action === 'credential.purge')).toHaveLength(24);
    const dataKeys = await database.db
      .selectFrom('data_keys')
      .select('version')
      .where('user_id', '=', userId)
      .execute();
    expect(dataKeys).toEqual([{ version: 1 }]);
  });

  it('25 concurrent first stores of a new user across providers create exactly one data key', async () => {
    const userId = randomUserId('first');
    const attempts = Array.from({ length: 25 }, (_, index) => ({
      provider: catalogProviders[index % catalogProviders.length] ?? 'openai',
      apiKey: fakeApiKey(`first${index}`),
    }));
    const summaries = await Promise.all(
      attempts.map(({ provider, apiKey }) =>
        vault.store({ userId, provider, credentials: { apiKey }, validate: false }),
      ),
    );
    const dataKeys = await database.db
      .selectFrom('data_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .execute();
    expect(dataKeys).toHaveLength(1);
    // Each provider's current key is the one whose store got the highest version, and it decrypts, also
    // for a vault that has never seen this user.
    const cold = open();
    for (const provider of catalogProviders) {
      const mine = attempts
        .map((attempt, index) => ({ ...attempt, version: summaries[index]?.version ?? 0 }))
        .filter((attempt) => attempt.provider === provider);
      const newest = mine.reduce((best, attempt) => (attempt.version > best.version ? attempt : best));
      expect(mine.map((attempt) => attempt.version).sort()).toEqual(mine.map((_, index) => index + 1));
      expect(await revealKey(vault, userId, provider)).toBe(newest.apiKey);
      expect(await revealKey(cold, userId, provider)).toBe(newest.apiKey);
    }
  });

  it('reveals racing rotations return a stored key, never one older than the last finished store', async () => {
    const userId = randomUserId('interleave');
    const issued: string[] = [];
    let finished = -1;
    let rotating = true;
    const store = async (index: number) => {
      const apiKey = fakeApiKey(`rotation${index}`);
      issued.push(apiKey);
      await vault.store({ userId, provider: 'anthropic', credentials: { apiKey }, validate: false });
      finished = index;
    };
    await store(0);
    const problems: string[] = [];
    let reveals = 0;
    const reader = async () => {
      while (rotating) {
        const floor = finished;
        try {
          const value = await revealKey(vault, userId, 'anthropic');
          const index = issued.indexOf(value ?? '');
          if (index < 0) problems.push('a reveal returned a key that was never stored');
          else if (index < floor)
            problems.push(`a reveal returned version ${index} after ${floor} was stored`);
        } catch (error) {
          problems.push(`a reveal failed: ${String(error)}`);
        }
        reveals += 1;
        // A warm reveal never leaves the microtask queue: yield so the rotations get to run.
        await yieldToEventLoop();
      }
    };
    const rotations = (async () => {
      for (let index = 1; index <= 20; index += 1) {
        await store(index);
        await new Promise((resolve) => setTimeout(resolve, randomInt(3)));
      }
      rotating = false;
    })();
    await Promise.all([rotations, reader(), reader(), reader(), reader()]);
    expect(problems).toEqual([]);
    expect(reveals).toBeGreaterThan(20);
    expect(await revealKey(vault, userId, 'anthropic')).toBe(issued.at(-1));
    await vault.flush();
    expect((await vault.verifyAudit()).ok).toBe(true);
  });

  it('a reveal that read the row before a rotation committed does not cache the old version', async () => {
    // The reveal reads the current row, then waits on a slow KMS unwrap while a rotation commits.
    const inner = kmsFor(keys, [1, 2], 2);
    let slowNext = false;
    const slowKms: Kms = {
      activeVersion: () => inner.activeVersion(),
      versions: () => inner.versions(),
      wrap: (dataKey, context) => inner.wrap(dataKey, context),
      async unwrap(wrapped, context) {
        if (slowNext) {
          slowNext = false;
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
        return inner.unwrap(wrapped, context);
      },
    };
    const instance = createVault({ db: database.db, kms: slowKms, dekCache: createDekCache({ ttlMs: 0 }) });
    opened.push(instance);
    const userId = randomUserId('stale');
    const oldKey = fakeApiKey('old');
    const newKey = fakeApiKey('new');
    await instance.store({ userId, provider: 'openai', credentials: { apiKey: oldKey }, validate: false });
    slowNext = true;
    const early = revealKey(instance, userId, 'openai');
    await new Promise((resolve) => setTimeout(resolve, 30));
    await instance.store({ userId, provider: 'openai', credentials: { apiKey: newKey }, validate: false });
    // The early reveal began before the rotation: either key is a correct answer for it.
    expect([oldKey, newKey]).toContain(await early);
    expect(await revealKey(instance, userId, 'openai')).toBe(newKey);
  });

  it.skipIf(target.name !== 'postgres')(
    'two vault instances on separate pools racing first stores share one data key and a valid audit chain',
    async () => {
      const second = await openDatabase({
        databaseUrl: database.databaseUrl,
        schema: database.schema,
        migrate: false,
      });
      try {
        const instances = [open(), open([1, 2], 2, second.db)];
        const userId = randomUserId('two-instances');
        const apiKeys = Array.from({ length: 20 }, (_, index) => fakeApiKey(`instance${index}`));
        const summaries = await Promise.all(
          apiKeys.map((apiKey, index) =>
            instances[index % 2]?.store({
              userId,
              provider: 'luma',
              credentials: { apiKey },
              validate: false,
            }),
          ),
        );
        const versions = summaries.map((summary) => summary?.version ?? 0);
        expect([...versions].sort((a, b) => a - b)).toEqual(
          Array.from({ length: 20 }, (_, index) => index + 1),
        );
        const dataKeys = await database.db
          .selectFrom('data_keys')
          .select('version')
          .where('user_id', '=', userId)
          .execute();
        expect(dataKeys).toHaveLength(1);
        const newest = apiKeys[versions.indexOf(20)];
        for (const instance of instances) {
          expect(await revealKey(instance, userId, 'luma')).toBe(newest);
          await instance.flush();
        }
        expect((await vault.verifyAudit()).ok).toBe(true);
      } finally {
        for (const instance of opened.splice(1)) await instance.close();
        await second.close();
      }
    },
  );

  it('security 14: a random mix of store, reveal, rotate and rewrap by several workers never loses a key', async () => {
    // Two instances mid master-key rotation: one still wraps with v1, the other with v2, and both rewrap
    // to their own active key, so data keys keep moving between master keys while the others work.
    const onV1 = open([1, 2], 1);
    const onV2 = open([1, 2], 2);
    const instances = [onV1, onV2, vault];
    const pick = <T>(items: readonly T[]): T => {
      const item = items[randomInt(items.length)];
      if (item === undefined) throw new Error('nothing to pick from');
      return item;
    };
    type Pair = {
      userId: string;
      provider: string;
      issued: Set<string>;
      newest: { version: number; apiKey: string };
    };
    const pairs: Pair[] = [];
    const addPair = async (userId: string, provider: string) => {
      const apiKey = fakeApiKey('fuzz');
      const pair: Pair = { userId, provider, issued: new Set([apiKey]), newest: { version: 0, apiKey } };
      const summary = await pick(instances).store({
        userId,
        provider,
        credentials: { apiKey },
        validate: false,
      });
      pair.newest = { version: summary.version ?? 0, apiKey };
      pairs.push(pair);
    };
    for (let user = 0; user < 3; user += 1) {
      const userId = randomUserId(`fuzz${user}`);
      await addPair(userId, 'openai');
      await addPair(userId, 'mistral');
    }

    const problems: string[] = [];
    const counts: Record<string, number> = {};
    const deadline = Date.now() + 3000;
    const worker = async () => {
      while (Date.now() < deadline) {
        const instance = pick(instances);
        const pair = pick(pairs);
        const operation = pick([
          'store',
          'reveal',
          'reveal',
          'reveal',
          'revealVersion',
          'rewrap',
          'newUser',
        ] as const);
        counts[operation] = (counts[operation] ?? 0) + 1;
        try {
          if (operation === 'store') {
            const apiKey = fakeApiKey('fuzz');
            pair.issued.add(apiKey);
            const summary = await instance.store({
              userId: pair.userId,
              provider: pair.provider,
              credentials: { apiKey },
              validate: false,
            });
            const version = summary.version ?? 0;
            if (version > pair.newest.version) pair.newest = { version, apiKey };
          } else if (operation === 'reveal') {
            const value = await revealKey(instance, pair.userId, pair.provider);
            if (!pair.issued.has(value ?? '')) problems.push(`${pair.provider}: a key that was never stored`);
          } else if (operation === 'revealVersion') {
            const { credentialId } = await instance.get({ userId: pair.userId, provider: pair.provider });
            try {
              const revealed = await instance.revealVersion({
                userId: pair.userId,
                credentialId: credentialId ?? '',
                purpose: 'proxy',
              });
              const value = revealed.credentials.apiKey?.reveal() ?? '';
              if (!pair.issued.has(value)) problems.push(`${pair.provider}: a version that was never stored`);
            } catch (error) {
              // A rotation may purge the version between get() and revealVersion(): not_found is fine.
              if ((error as { code?: string }).code !== 'not_found') throw error;
            }
          } else if (operation === 'rewrap') {
            const result = await instance.rewrap({ batchSize: 2 });
            if (result.failed.length > 0) problems.push(`rewrap failed: ${JSON.stringify(result.failed)}`);
          } else {
            await addPair(randomUserId('fuzz-new'), pick(catalogProviders));
          }
        } catch (error) {
          problems.push(`${operation} failed: ${String(error)}`);
        }
        await yieldToEventLoop();
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(problems).toEqual([]);
    expect(counts.store ?? 0).toBeGreaterThan(5);
    expect(counts.rewrap ?? 0).toBeGreaterThan(2);

    // Afterwards every current credential decrypts to the newest stored key, through a cold vault and
    // through one holding only v2 once everything is rewrapped to v2.
    for (const instance of instances) await instance.flush();
    const check = async (instance: Vault) => {
      for (const pair of pairs) {
        expect(await revealKey(instance, pair.userId, pair.provider)).toBe(pair.newest.apiKey);
      }
    };
    await check(open([1, 2], 2));
    const final = await onV2.rewrap();
    expect(final.failed).toEqual([]);
    await onV2.setMinDecryptVersion({ version: 2 });
    await check(open([2], 2));
    expect((await vault.verifyAudit()).ok).toBe(true);
    await onV2.setMinDecryptVersion({ version: 1 });
  });
});
