import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import {
  catalogProviders,
  createFakeValidator,
  expectKeyhavenError,
  fakeApiKey,
  randomUserId,
  singleKeyKms,
} from '../../test/support/vault.ts';
import { SecretValue } from '../crypto/index.ts';
import { type CredentialSummary, createVault, type Vault } from './index.ts';

describe.each(databaseTargets)('reading, testing and removing credentials on $name', (target) => {
  let database: TestDatabase;
  let vault: Vault;
  const validator = createFakeValidator();
  // A clock the tests move by hand, so timestamps can be asserted exactly.
  let now = new Date('2030-01-01T00:00:00.000Z');
  const clock = () => new Date(now);
  const advance = (ms: number) => {
    now = new Date(now.getTime() + ms);
    return clock();
  };

  beforeAll(async () => {
    database = await target.open();
    vault = createVault({
      db: database.db,
      kms: singleKeyKms(),
      validate: validator.validate,
      clock,
      // Long enough that only an explicit flush writes reveal events during a test.
      audit: { flushIntervalMs: 60_000 },
    });
  });

  afterEach(() => validator.respond(undefined));

  afterAll(async () => {
    await vault?.close();
    await database?.close();
  });

  async function revealKey(userId: string, provider: string, purpose = 'proxy') {
    const revealed = await vault.reveal({ userId, provider, purpose });
    return revealed.credentials.apiKey?.reveal();
  }

  describe('reveal', () => {
    it('returns the credential as SecretValues that never print the key', async () => {
      const userId = randomUserId();
      const apiKey = fakeApiKey();
      const stored = await vault.store({
        userId,
        provider: 'openai',
        credentials: { apiKey, project: 'proj-test' },
      });
      const revealed = await vault.reveal({ userId, provider: 'openai', purpose: 'proxy' });
      expect(revealed).toMatchObject({ credentialId: stored.credentialId, provider: 'openai', version: 1 });
      expect(revealed.credentials.apiKey).toBeInstanceOf(SecretValue);
      expect(revealed.credentials.apiKey?.reveal()).toBe(apiKey);
      expect(revealed.credentials.project?.reveal()).toBe('proj-test');
      const printed = [
        JSON.stringify(revealed),
        inspect(revealed, { depth: 5 }),
        `${revealed.credentials.apiKey}`,
      ];
      for (const text of printed) {
        expect(text).not.toContain(apiKey);
        expect(text).toContain('[REDACTED]');
      }
    });

    it('returns the newest key right after a rotation, with the cache warm', async () => {
      const userId = randomUserId();
      const keys = [fakeApiKey('a'), fakeApiKey('b'), fakeApiKey('c')];
      for (const [index, apiKey] of keys.entries()) {
        await vault.store({ userId, provider: 'anthropic', credentials: { apiKey } });
        // Twice, so the second reveal is served by the record cache.
        expect(await revealKey(userId, 'anthropic')).toBe(apiKey);
        const revealed = await vault.reveal({ userId, provider: 'anthropic', purpose: 'proxy' });
        expect(revealed.version).toBe(index + 1);
        expect(revealed.credentials.apiKey?.reveal()).toBe(apiKey);
      }
      await vault.remove({ userId, provider: 'anthropic' });
      await expectKeyhavenError(() => revealKey(userId, 'anthropic'), 'not_found');
    });

    it('keeps users and providers apart in the cache', async () => {
      const first = randomUserId();
      const second = randomUserId();
      const keys = {
        firstOpenai: fakeApiKey(),
        firstMistral: fakeApiKey(),
        secondOpenai: fakeApiKey(),
      };
      await vault.store({ userId: first, provider: 'openai', credentials: { apiKey: keys.firstOpenai } });
      await vault.store({ userId: first, provider: 'mistral', credentials: { apiKey: keys.firstMistral } });
      await vault.store({ userId: second, provider: 'openai', credentials: { apiKey: keys.secondOpenai } });
      for (let round = 0; round < 2; round += 1) {
        expect(await revealKey(first, 'openai')).toBe(keys.firstOpenai);
        expect(await revealKey(first, 'mistral')).toBe(keys.firstMistral);
        expect(await revealKey(second, 'openai')).toBe(keys.secondOpenai);
        await expectKeyhavenError(() => revealKey(second, 'mistral'), 'not_found');
      }
    });

    it('is audited with its purpose once the batch is flushed', async () => {
      const userId = randomUserId();
      const stored = await vault.store({ userId, provider: 'luma', credentials: { apiKey: fakeApiKey() } });
      await revealKey(userId, 'luma', 'video.submit');
      await revealKey(userId, 'luma', 'video.submit');
      await revealKey(userId, 'luma', 'proxy');
      await vault.flush();
      const reveals = (await vault.listAudit({ userId })).filter(
        (event) => event.action === 'credential.reveal',
      );
      expect(reveals.map((event) => [event.purpose, event.credential_id, event.detail.count])).toEqual([
        ['video.submit', stored.credentialId, 2],
        ['proxy', stored.credentialId, 1],
      ]);
      expect(reveals.every((event) => event.provider === 'luma' && event.actor === 'system')).toBe(true);
    });

    it('sets lastUsedAt when the reveal is flushed, except for purpose validate', async () => {
      const userId = randomUserId();
      await vault.store({ userId, provider: 'runway', credentials: { apiKey: fakeApiKey() } });
      await revealKey(userId, 'runway', 'validate');
      await vault.flush();
      expect((await vault.get({ userId, provider: 'runway' })).lastUsedAt).toBeNull();
      const usedAt = advance(1000);
      await revealKey(userId, 'runway', 'proxy');
      // Batched: not yet written.
      expect((await vault.get({ userId, provider: 'runway' })).lastUsedAt).toBeNull();
      await vault.flush();
      expect((await vault.get({ userId, provider: 'runway' })).lastUsedAt).toEqual(usedAt);
      // A later validate-only reveal does not move it.
      advance(1000);
      await revealKey(userId, 'runway', 'validate');
      await vault.flush();
      expect((await vault.get({ userId, provider: 'runway' })).lastUsedAt).toEqual(usedAt);
    });

    it('gives not_found for a credential that was never stored', async () => {
      const userId = randomUserId();
      const error = await expectKeyhavenError(() => revealKey(userId, 'openai'), 'not_found');
      expect(error.message).toContain('openai');
      await expectKeyhavenError(
        () =>
          vault.revealVersion({ userId, credentialId: 'cred_000000000000000000000000', purpose: 'proxy' }),
        'not_found',
      );
    });
  });

  describe('summaries', () => {
    it('lists every catalog provider with its connected flag', async () => {
      const userId = randomUserId();
      const empty = await vault.list({ userId });
      expect(empty.map((summary) => summary.provider)).toEqual([...catalogProviders]);
      expect(empty.every((summary) => !summary.connected && summary.credentialId === null)).toBe(true);
      await vault.store({ userId, provider: 'anthropic', credentials: { apiKey: fakeApiKey() } });
      await vault.store({
        userId,
        provider: 'stability',
        credentials: { apiKey: fakeApiKey() },
        validate: false,
      });
      const listed = await vault.list({ userId });
      expect(listed.map((summary) => summary.provider)).toEqual([...catalogProviders]);
      expect(
        listed.filter((summary) => summary.connected).map((summary) => [summary.provider, summary.status]),
      ).toEqual([
        ['anthropic', 'valid'],
        ['stability', 'unverified'],
      ]);
      // Another user's credentials do not show up.
      expect((await vault.list({ userId: randomUserId() })).some((summary) => summary.connected)).toBe(false);
    });

    it('masks the key to at most its last 4 characters and never shows more of it', async () => {
      const userId = randomUserId();
      const cases: [string, string, string][] = [
        ['openai', fakeApiKey('long'), 'last 4'],
        ['anthropic', 'sk-test-ab', 'last 2'],
        ['mistral', 'sk-test', 'none'],
      ];
      for (const [provider, apiKey, shows] of cases) {
        const summary = await vault.store({ userId, provider, credentials: { apiKey }, validate: false });
        const expected = shows === 'last 4' ? apiKey.slice(-4) : shows === 'last 2' ? apiKey.slice(-2) : '';
        expect(summary.maskedKey).toBe(`****${expected}`);
        expectNoMoreThanMask(summary, apiKey);
        expectNoMoreThanMask(
          (await vault.list({ userId })).find((entry) => entry.provider === provider),
          apiKey,
        );
      }
    });

    it('fingerprints keys as fp_ + 32 hex: stable per key and user, distinct otherwise, not a plain hash', async () => {
      const first = randomUserId();
      const second = randomUserId();
      const apiKey = fakeApiKey('fingerprinted');
      const original = await vault.store({ userId: first, provider: 'openai', credentials: { apiKey } });
      expect(original.fingerprint).toMatch(/^fp_[0-9a-f]{32}$/);
      // The same key stored again (a new version) has the same fingerprint; so does the same key with
      // a non-secret field changed.
      const again = await vault.store({
        userId: first,
        provider: 'openai',
        credentials: { apiKey, organization: 'org-test' },
      });
      expect(again.version).toBe(2);
      expect(again.fingerprint).toBe(original.fingerprint);
      const other = await vault.store({
        userId: first,
        provider: 'mistral',
        credentials: { apiKey: fakeApiKey() },
      });
      expect(other.fingerprint).not.toBe(original.fingerprint);
      // Another user's identical key cannot be matched through the fingerprint.
      const elsewhere = await vault.store({ userId: second, provider: 'openai', credentials: { apiKey } });
      expect(elsewhere.fingerprint).not.toBe(original.fingerprint);

      const digest = (original.fingerprint ?? '').slice(3);
      for (const material of [apiKey, JSON.stringify({ apiKey }), JSON.stringify([['apiKey', apiKey]])]) {
        for (const algorithm of ['sha256', 'sha1', 'md5', 'sha512']) {
          const plain = createHash(algorithm).update(material).digest('hex');
          expect(plain.includes(digest) || digest.includes(plain.slice(0, 32))).toBe(false);
        }
      }
    });

    it('holds no secret in any summary field', async () => {
      const userId = randomUserId();
      const apiKey = fakeApiKey('summary');
      await vault.store({ userId, provider: 'openai', credentials: { apiKey, organization: 'org-test' } });
      await vault.test({ userId, provider: 'openai' });
      const summaries = [await vault.get({ userId, provider: 'openai' }), ...(await vault.list({ userId }))];
      for (const summary of summaries) expectNoMoreThanMask(summary, apiKey);
    });
  });

  describe('test()', () => {
    it('marks the credential valid and stamps lastValidatedAt when the provider accepts it', async () => {
      const userId = randomUserId();
      await vault.store({
        userId,
        provider: 'openai',
        credentials: { apiKey: fakeApiKey() },
        validate: false,
      });
      const checkedAt = advance(5000);
      const { result, summary } = await vault.test({ userId, provider: 'openai' });
      expect(result).toEqual({ status: 'valid' });
      expect(summary).toMatchObject({ status: 'valid', statusReason: null, lastValidatedAt: checkedAt });
      expect(await vault.get({ userId, provider: 'openai' })).toMatchObject({
        status: 'valid',
        lastValidatedAt: checkedAt,
      });
      // Testing reveals with purpose validate: no lastUsedAt.
      await vault.flush();
      expect((await vault.get({ userId, provider: 'openai' })).lastUsedAt).toBeNull();
    });

    it('marks the credential invalid with the (redacted) reason when the provider refuses it', async () => {
      const userId = randomUserId();
      const apiKey = fakeApiKey();
      await vault.store({ userId, provider: 'anthropic', credentials: { apiKey } });
      validator.respond(() => ({ status: 'invalid', reason: `key ${apiKey} was revoked` }));
      const { result, summary } = await vault.test({ userId, provider: 'anthropic' });
      expect(result).toEqual({ status: 'invalid', reason: 'key [REDACTED] was revoked' });
      expect(summary).toMatchObject({ status: 'invalid', statusReason: 'key [REDACTED] was revoked' });
      // The credential is kept: a refused key is shown to the user, not silently deleted.
      expect(await revealKey(userId, 'anthropic')).toBe(apiKey);
      validator.respond(undefined);
      const recovered = await vault.test({ userId, provider: 'anthropic' });
      expect(recovered.summary).toMatchObject({ status: 'valid', statusReason: null });
    });

    it('leaves the status unchanged when the provider is unreachable or rate-limited', async () => {
      const userId = randomUserId();
      const stored = await vault.store({
        userId,
        provider: 'mistral',
        credentials: { apiKey: fakeApiKey() },
      });
      await vault.markInvalid({ userId, provider: 'mistral', reason: 'quota exhausted' });
      for (const outcome of [
        { status: 'unreachable' },
        { status: 'rate_limited', retryAfterMs: 10 },
      ] as const) {
        validator.respond(() => outcome);
        const { result, summary } = await vault.test({ userId, provider: 'mistral' });
        expect(result).toEqual(outcome);
        expect(summary).toMatchObject({
          status: 'invalid',
          statusReason: 'quota exhausted',
          lastValidatedAt: stored.lastValidatedAt,
        });
      }
      const validations = (await vault.listAudit({ userId })).filter(
        (event) => event.action === 'credential.validate',
      );
      expect(validations.map((event) => event.detail.result)).toEqual(['unreachable', 'rate_limited']);
    });

    it('gives not_found when there is nothing to test', async () => {
      await expectKeyhavenError(
        () => vault.test({ userId: randomUserId(), provider: 'openai' }),
        'not_found',
      );
    });

    it('does not let a status learnt from an older version mark the newer one', async () => {
      const userId = randomUserId();
      const old = await vault.store({ userId, provider: 'openai', credentials: { apiKey: fakeApiKey() } });
      const current = await vault.store({
        userId,
        provider: 'openai',
        credentials: { apiKey: fakeApiKey() },
      });
      const stale = await vault.markInvalid({
        userId,
        provider: 'openai',
        reason: 'invalid api key',
        credentialId: old.credentialId ?? '',
      });
      expect(stale).toMatchObject({
        credentialId: current.credentialId,
        status: 'valid',
        statusReason: null,
      });
      expect((await vault.get({ userId, provider: 'openai' })).status).toBe('valid');
      const marked = await vault.markInvalid({
        userId,
        provider: 'openai',
        reason: 'invalid api key',
        credentialId: current.credentialId ?? '',
      });
      expect(marked).toMatchObject({ status: 'invalid', statusReason: 'invalid api key' });
      const revalidated = await vault.markValidated({ userId, provider: 'openai' });
      expect(revalidated).toMatchObject({ status: 'valid', statusReason: null });
      await expectKeyhavenError(
        () => vault.markInvalid({ userId: randomUserId(), provider: 'openai', reason: 'nope' }),
        'not_found',
      );
    });
  });

  describe('remove', () => {
    it('deletes every version, retained ones included; afterwards and on a second remove: not_found', async () => {
      const userId = randomUserId();
      const first = await vault.store({ userId, provider: 'runway', credentials: { apiKey: fakeApiKey() } });
      await vault.retain({ userId, credentialId: first.credentialId ?? '', holder: 'vid_running' });
      await vault.store({ userId, provider: 'runway', credentials: { apiKey: fakeApiKey() } });
      const kept = fakeApiKey('kept');
      await vault.store({ userId, provider: 'luma', credentials: { apiKey: kept } });
      await revealKey(userId, 'runway');

      await vault.remove({ userId, provider: 'runway' });
      const rows = await database.db
        .selectFrom('credentials')
        .select('provider')
        .where('user_id', '=', userId)
        .execute();
      expect(rows).toEqual([{ provider: 'luma' }]);
      const references = await database.db
        .selectFrom('credential_references')
        .select('credential_id')
        .where('user_id', '=', userId)
        .execute();
      expect(references).toEqual([]);
      expect((await vault.get({ userId, provider: 'runway' })).connected).toBe(false);
      await expectKeyhavenError(() => revealKey(userId, 'runway'), 'not_found');
      await expectKeyhavenError(
        () => vault.revealVersion({ userId, credentialId: first.credentialId ?? '', purpose: 'video.poll' }),
        'not_found',
      );
      await expectKeyhavenError(() => vault.remove({ userId, provider: 'runway' }), 'not_found');
      expect(await revealKey(userId, 'luma')).toBe(kept);
      const removal = (await vault.listAudit({ userId })).find(
        (event) => event.action === 'credential.remove',
      );
      expect(removal).toMatchObject({ provider: 'runway', detail: { versions: 2 } });
    });
  });
});

/** A summary may show the masked key's last characters; no longer run of the secret may appear in it. */
function expectNoMoreThanMask(summary: CredentialSummary | undefined, secret: string) {
  expect(summary).toBeDefined();
  const text = JSON.stringify(summary);
  expect(text).not.toContain(secret);
  const visible = (summary?.maskedKey ?? '').replace(/^\*{4}/, '');
  expect(visible.length).toBeLessThanOrEqual(4);
  expect(secret.endsWith(visible)).toBe(true);
  // Every run of 5 characters of the random tail (the fixed `sk-test-<label>-` prefix is not secret).
  const tail = secret.slice(-20);
  for (let start = 0; start + 5 <= tail.length; start += 1) {
    const window = tail.slice(start, start + 5);
    expect(text.includes(window), `the summary shows "${window}" of the secret`).toBe(false);
  }
}
