import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import {
  countingKms,
  createFakeValidator,
  dumpDatabase,
  errorText,
  expectKeyhavenError,
  failingQueries,
  failure,
  fakeApiKey,
  randomUserId,
  secretForms,
  singleKeyKms,
} from '../../test/support/vault.ts';
import { SecretValue } from '../crypto/index.ts';
import { createVault, type Vault } from './index.ts';

describe.each(databaseTargets)('storing credentials on $name', (target) => {
  let database: TestDatabase;
  let vault: Vault;
  const validator = createFakeValidator();
  const kms = singleKeyKms();

  beforeAll(async () => {
    database = await target.open();
    vault = createVault({ db: database.db, kms, validate: validator.validate });
  });

  afterEach(() => validator.respond(undefined));

  afterAll(async () => {
    await vault?.close();
    await database?.close();
  });

  async function versionsInDatabase(userId: string, provider: string) {
    return database.db
      .selectFrom('credentials')
      .select(['id', 'version', 'is_current'])
      .where('user_id', '=', userId)
      .where('provider', '=', provider)
      .orderBy('version')
      .execute();
  }

  async function revealKey(userId: string, provider: string) {
    const revealed = await vault.reveal({ userId, provider, purpose: 'proxy' });
    return revealed.credentials.apiKey?.reveal();
  }

  describe('validation before storing', () => {
    it('asks the provider first and stores a valid key as valid', async () => {
      const userId = randomUserId();
      const apiKey = fakeApiKey('valid');
      const before = validator.calls.length;
      const summary = await vault.store({
        userId,
        provider: 'openai',
        credentials: { apiKey, organization: 'org-test' },
      });
      const call = validator.calls[before];
      expect(call).toEqual({ provider: 'openai', fields: { apiKey, organization: 'org-test' } });
      expect(summary).toMatchObject({ provider: 'openai', connected: true, status: 'valid', version: 1 });
      expect(summary.lastValidatedAt).toBeInstanceOf(Date);
      expect(await revealKey(userId, 'openai')).toBe(apiKey);
    });

    it('hands the validator SecretValues, which print as [REDACTED]', async () => {
      let printed = '';
      validator.respond(() => ({ status: 'valid' }));
      const apiKey = fakeApiKey('printed');
      const inner = createVault({
        db: database.db,
        kms: singleKeyKms(),
        validate: async (_provider, credentials) => {
          expect(credentials.apiKey).toBeInstanceOf(SecretValue);
          printed = `${JSON.stringify(credentials)} ${String(credentials.apiKey)}`;
          return { status: 'valid' };
        },
      });
      try {
        await inner.store({ userId: randomUserId(), provider: 'anthropic', credentials: { apiKey } });
      } finally {
        await inner.close();
      }
      expect(printed).toBe('{"apiKey":"[REDACTED]"} [REDACTED]');
    });

    it('refuses an invalid key with the provider reason, stores nothing and audits the rejection', async () => {
      const userId = randomUserId();
      validator.respond(() => ({ status: 'invalid', reason: 'account deactivated' }));
      const error = await expectKeyhavenError(
        () => vault.store({ userId, provider: 'anthropic', credentials: { apiKey: fakeApiKey() } }),
        'credential_invalid',
      );
      expect(error.message).toContain('account deactivated');
      expect(error.details).toEqual({ reason: 'account deactivated' });
      expect(await vault.get({ userId, provider: 'anthropic' })).toMatchObject({
        connected: false,
        credentialId: null,
      });
      expect(await versionsInDatabase(userId, 'anthropic')).toEqual([]);
      const events = await vault.listAudit({ userId });
      expect(events.map((event) => event.action)).toEqual(['credential.reject']);
      expect(events[0]).toMatchObject({ provider: 'anthropic', detail: { reason: 'account deactivated' } });
    });

    it('keeps the previous version when a replacement is refused', async () => {
      const userId = randomUserId();
      const original = fakeApiKey('original');
      const first = await vault.store({ userId, provider: 'openai', credentials: { apiKey: original } });
      await expectKeyhavenError(
        () => vault.store({ userId, provider: 'openai', credentials: { apiKey: fakeApiKey('invalid') } }),
        'credential_invalid',
      );
      const summary = await vault.get({ userId, provider: 'openai' });
      expect(summary).toMatchObject({ connected: true, version: 1, credentialId: first.credentialId });
      expect(summary.fingerprint).toBe(first.fingerprint);
      expect(await revealKey(userId, 'openai')).toBe(original);
      expect(await versionsInDatabase(userId, 'openai')).toHaveLength(1);
    });

    it('redacts a refusal reason that echoes the key, in the error and in the audit log', async () => {
      const userId = randomUserId();
      const apiKey = fakeApiKey('invalid');
      const error = await expectKeyhavenError(
        () => vault.store({ userId, provider: 'mistral', credentials: { apiKey } }),
        'credential_invalid',
      );
      expect(error.message).toContain('Incorrect API key provided: [REDACTED]');
      for (const form of secretForms(apiKey)) expect(errorText(error)).not.toContain(form);
      const events = await vault.listAudit({ userId });
      expect(JSON.stringify(events)).not.toContain(apiKey);
      expect(events[0]?.detail).toEqual({ reason: 'Incorrect API key provided: [REDACTED]' });
    });

    it('redacts the key from a refusal reason also when it is echoed base64- or URL-encoded', async () => {
      const apiKey = `${fakeApiKey()}/+=`;
      validator.respond(() => ({
        status: 'invalid',
        reason: `bad key ${Buffer.from(apiKey).toString('base64')} (${encodeURIComponent(apiKey)})`,
      }));
      const error = await expectKeyhavenError(
        () => vault.store({ userId: randomUserId(), provider: 'luma', credentials: { apiKey } }),
        'credential_invalid',
      );
      expect(error.message).toContain('bad key [REDACTED] ([REDACTED])');
    });

    it('reports an unreachable provider as provider_unavailable and stores nothing', async () => {
      const userId = randomUserId();
      await expectKeyhavenError(
        () => vault.store({ userId, provider: 'runway', credentials: { apiKey: fakeApiKey('unreachable') } }),
        'provider_unavailable',
      );
      expect((await vault.get({ userId, provider: 'runway' })).connected).toBe(false);
      expect(await versionsInDatabase(userId, 'runway')).toEqual([]);
    });

    it('reports a rate-limited validation as provider_rate_limited with retryAfterMs', async () => {
      const userId = randomUserId();
      const error = await expectKeyhavenError(
        () =>
          vault.store({ userId, provider: 'stability', credentials: { apiKey: fakeApiKey('ratelimited') } }),
        'provider_rate_limited',
      );
      expect(error.retryAfterMs).toBe(1500);
      expect((await vault.get({ userId, provider: 'stability' })).connected).toBe(false);
    });

    it('treats a validator that throws as provider_unavailable without leaking its message', async () => {
      const userId = randomUserId();
      const apiKey = fakeApiKey('throws');
      const error = await expectKeyhavenError(
        () => vault.store({ userId, provider: 'openai', credentials: { apiKey } }),
        'provider_unavailable',
      );
      const text = errorText(error);
      expect(text).not.toContain('socket hang up');
      for (const form of secretForms(apiKey)) expect(text).not.toContain(form);
      expect(await versionsInDatabase(userId, 'openai')).toEqual([]);
    });

    it('stores without asking the provider when validate is false, as unverified', async () => {
      const userId = randomUserId();
      const before = validator.calls.length;
      const apiKey = fakeApiKey('invalid-but-unchecked');
      const summary = await vault.store({
        userId,
        provider: 'openai',
        credentials: { apiKey },
        validate: false,
      });
      expect(validator.calls.length).toBe(before);
      expect(summary).toMatchObject({ status: 'unverified', lastValidatedAt: null, connected: true });
      expect(await revealKey(userId, 'openai')).toBe(apiKey);
    });

    it('refuses to validate without a configured validator (invalid_config), but stores unverified', async () => {
      const unvalidated = createVault({ db: database.db, kms: singleKeyKms() });
      const userId = randomUserId();
      try {
        const error = await expectKeyhavenError(
          () => unvalidated.store({ userId, provider: 'openai', credentials: { apiKey: fakeApiKey() } }),
          'invalid_config',
        );
        expect(error.message).toContain('validate: false');
        expect((await unvalidated.get({ userId, provider: 'openai' })).connected).toBe(false);
        const summary = await unvalidated.store({
          userId,
          provider: 'openai',
          credentials: { apiKey: fakeApiKey() },
          validate: false,
        });
        expect(summary.status).toBe('unverified');
      } finally {
        await unvalidated.close();
      }
    });
  });

  describe('rotation', () => {
    it('makes the new key version n+1 and current, and deletes the unreferenced old version', async () => {
      const userId = randomUserId();
      const first = await vault.store({
        userId,
        provider: 'openai',
        credentials: { apiKey: fakeApiKey('one') },
      });
      const newKey = fakeApiKey('two');
      const second = await vault.store({ userId, provider: 'openai', credentials: { apiKey: newKey } });
      expect(second.version).toBe(2);
      expect(second.credentialId).not.toBe(first.credentialId);
      expect(second.createdAt).toEqual(first.createdAt);
      const rows = await versionsInDatabase(userId, 'openai');
      expect(rows).toEqual([{ id: second.credentialId, version: 2, is_current: true }]);
      expect(await revealKey(userId, 'openai')).toBe(newKey);
      const third = await vault.store({
        userId,
        provider: 'openai',
        credentials: { apiKey: fakeApiKey('three') },
      });
      expect(third.version).toBe(3);
      const events = await vault.listAudit({ userId });
      expect(
        events.filter((event) => event.action === 'credential.store').map((event) => event.detail),
      ).toEqual([
        expect.objectContaining({ version: 1, rotated: false }),
        expect.objectContaining({ version: 2, rotated: true }),
        expect.objectContaining({ version: 3, rotated: true }),
      ]);
      expect(
        events.filter((event) => event.action === 'credential.purge').map((event) => event.credential_id),
      ).toEqual([first.credentialId, second.credentialId]);
    });

    it('keeps a retained old version readable until it is released, then deletes it', async () => {
      const userId = randomUserId();
      const oldKey = fakeApiKey('old');
      const newKey = fakeApiKey('new');
      const old = await vault.store({ userId, provider: 'runway', credentials: { apiKey: oldKey } });
      const oldId = old.credentialId ?? '';
      await vault.retain({ userId, credentialId: oldId, holder: 'vid_job1' });
      await vault.retain({ userId, credentialId: oldId, holder: 'vid_job2' });
      // Retaining twice with the same holder is harmless.
      await vault.retain({ userId, credentialId: oldId, holder: 'vid_job2' });
      await vault.store({ userId, provider: 'runway', credentials: { apiKey: newKey } });

      expect(
        (await versionsInDatabase(userId, 'runway')).map((row) => [row.version, row.is_current]),
      ).toEqual([
        [1, false],
        [2, true],
      ]);
      expect(await revealKey(userId, 'runway')).toBe(newKey);
      const retained = await vault.revealVersion({ userId, credentialId: oldId, purpose: 'video.poll' });
      expect(retained.version).toBe(1);
      expect(retained.credentials.apiKey?.reveal()).toBe(oldKey);

      await vault.release({ userId, credentialId: oldId, holder: 'vid_job1' });
      expect(await versionsInDatabase(userId, 'runway')).toHaveLength(2);
      await vault.release({ userId, credentialId: oldId, holder: 'vid_job2' });
      expect((await versionsInDatabase(userId, 'runway')).map((row) => row.version)).toEqual([2]);
      await expectKeyhavenError(
        () => vault.revealVersion({ userId, credentialId: oldId, purpose: 'video.poll' }),
        'not_found',
      );
      expect(await revealKey(userId, 'runway')).toBe(newKey);
    });

    it('keeps the current version when its last reference is released', async () => {
      const userId = randomUserId();
      const apiKey = fakeApiKey();
      const current = await vault.store({ userId, provider: 'luma', credentials: { apiKey } });
      const credentialId = current.credentialId ?? '';
      await vault.retain({ userId, credentialId, holder: 'vid_current' });
      await vault.release({ userId, credentialId, holder: 'vid_current' });
      expect(await revealKey(userId, 'luma')).toBe(apiKey);
    });

    it('security 17: leaves neither the old plaintext nor the old blob anywhere in the database', async () => {
      const userId = randomUserId();
      const oldKey = fakeApiKey('replaced');
      const stored = await vault.store({
        userId,
        provider: 'google-gemini',
        credentials: { apiKey: oldKey },
      });
      const oldRow = await database.db
        .selectFrom('credentials')
        .select('secret')
        .where('id', '=', stored.credentialId ?? '')
        .executeTakeFirstOrThrow();
      const oldBlob = Buffer.from(oldRow.secret);
      // The reveal warms the cache and is audited; neither may keep the old key around.
      expect(await revealKey(userId, 'google-gemini')).toBe(oldKey);
      await vault.store({
        userId,
        provider: 'google-gemini',
        credentials: { apiKey: fakeApiKey('replacement') },
      });
      await vault.flush();

      const dump = await dumpDatabase(database.db);
      const lowered = dump.toLowerCase();
      const plaintext = Buffer.from(JSON.stringify({ apiKey: oldKey }));
      for (const form of [...secretForms(oldKey), plaintext.toString('hex'), plaintext.toString('base64')]) {
        expect(dump.includes(form), 'the old plaintext is still in the database').toBe(false);
      }
      expect(lowered.includes(oldBlob.toString('hex')), 'the old blob is still in the database').toBe(false);
      expect(
        dump.includes(oldBlob.toString('base64')),
        'the old blob is still in the database (base64)',
      ).toBe(false);
      // The ciphertext and the salt alone, in case something kept a part of the blob.
      expect(lowered.includes(oldBlob.subarray(82).toString('hex'))).toBe(false);
      expect(lowered.includes(oldBlob.subarray(6, 38).toString('hex'))).toBe(false);
      // And the scan does see the current blob: it would notice the old one if it were there.
      const currentRow = await database.db
        .selectFrom('credentials')
        .select('secret')
        .where('user_id', '=', userId)
        .executeTakeFirstOrThrow();
      expect(lowered.includes(Buffer.from(currentRow.secret).toString('hex'))).toBe(true);
      expect(dump).not.toContain(createHash('sha256').update(oldKey).digest('hex'));
    });
  });

  describe('bad input', () => {
    const provider = 'openai';

    it('rejects unknown providers with unknown_provider', async () => {
      const userId = randomUserId();
      for (const name of ['nope', '', 'OpenAI', 'openai ', '__proto__', 'constructor', 42, null]) {
        const error = await expectKeyhavenError(
          () => vault.store({ userId, provider: name as string, credentials: { apiKey: fakeApiKey() } }),
          'unknown_provider',
        );
        expect(error.details?.supported).toHaveLength(8);
        await expectKeyhavenError(
          () => vault.reveal({ userId, provider: name as string, purpose: 'proxy' }),
          'unknown_provider',
        );
      }
    });

    it('rejects malformed user ids with invalid_request on every operation', async () => {
      const malformed: unknown[] = [
        '',
        ' ',
        'has space',
        'x'.repeat(200),
        '-leading-dash',
        'tab\there',
        42,
        null,
        undefined,
        {},
      ];
      for (const userId of malformed) {
        const asString = userId as string;
        await expectKeyhavenError(
          () => vault.store({ userId: asString, provider, credentials: { apiKey: fakeApiKey() } }),
          'invalid_request',
        );
        await expectKeyhavenError(
          () => vault.reveal({ userId: asString, provider, purpose: 'proxy' }),
          'invalid_request',
        );
        await expectKeyhavenError(() => vault.get({ userId: asString, provider }), 'invalid_request');
        await expectKeyhavenError(() => vault.list({ userId: asString }), 'invalid_request');
        await expectKeyhavenError(() => vault.remove({ userId: asString, provider }), 'invalid_request');
        await expectKeyhavenError(() => vault.shred({ userId: asString }), 'invalid_request');
      }
      // A 128-character id is the longest allowed.
      const longest = `u${'x'.repeat(127)}`;
      await vault.store({
        userId: longest,
        provider,
        credentials: { apiKey: fakeApiKey() },
        validate: false,
      });
      expect((await vault.get({ userId: longest, provider })).connected).toBe(true);
    });

    it('rejects malformed credentials without echoing the secret and leaves the stored key unchanged', async () => {
      const userId = randomUserId();
      const original = fakeApiKey('kept');
      const stored = await vault.store({ userId, provider, credentials: { apiKey: original } });
      const offending = fakeApiKey('offending');
      const cases: { credentials: unknown; mentions?: string }[] = [
        { credentials: { apiKey: '' }, mentions: 'apiKey must not be empty' },
        { credentials: { apiKey: '   ' }, mentions: 'apiKey must not be empty' },
        { credentials: { apiKey: `${offending}${'x'.repeat(8 * 1024)}` }, mentions: 'at most 8 KiB' },
        { credentials: { apiKey: offending, extra: offending } },
        { credentials: { apiKey: offending, organization: '' } },
        { credentials: { organization: offending } },
        { credentials: { apiKey: 12345 }, mentions: 'apiKey must be a string' },
        { credentials: { apiKey: [offending] }, mentions: 'apiKey must be a string' },
        { credentials: offending, mentions: 'must be an object' },
        { credentials: [offending], mentions: 'must be an object' },
        { credentials: null, mentions: 'must be an object' },
        { credentials: undefined, mentions: 'must be an object' },
        { credentials: {} },
      ];
      const callsBefore = validator.calls.length;
      for (const { credentials, mentions } of cases) {
        const error = await expectKeyhavenError(
          () => vault.store({ userId, provider, credentials: credentials as Record<string, unknown> }),
          'invalid_request',
        );
        if (mentions) expect(error.message).toContain(mentions);
        const text = `${errorText(error)}\n${JSON.stringify(error.details)}`;
        for (const form of secretForms(offending)) expect(text).not.toContain(form);
        const summary = await vault.get({ userId, provider });
        expect(summary).toMatchObject({ version: 1, credentialId: stored.credentialId });
        expect(await revealKey(userId, provider)).toBe(original);
      }
      // Bad input never reaches the provider.
      expect(validator.calls.length).toBe(callsBefore);
      // The largest allowed key is accepted.
      const largest = `sk-test-${'k'.repeat(8 * 1024 - 8)}`;
      await vault.store({ userId, provider: 'mistral', credentials: { apiKey: largest }, validate: false });
      expect(await revealKey(userId, 'mistral')).toBe(largest);
    });

    it('rejects bad purposes, credential ids and holders with invalid_request', async () => {
      const userId = randomUserId();
      const stored = await vault.store({ userId, provider, credentials: { apiKey: fakeApiKey() } });
      const credentialId = stored.credentialId ?? '';
      for (const purpose of ['', 'Proxy', 'has space', 'x'.repeat(65), 7]) {
        await expectKeyhavenError(
          () => vault.reveal({ userId, provider, purpose: purpose as string }),
          'invalid_request',
        );
      }
      for (const id of ['', 'cred_xyz', `${credentialId}0`, 'usr_000000000000000000000000', 1]) {
        await expectKeyhavenError(
          () => vault.revealVersion({ userId, credentialId: id as string, purpose: 'proxy' }),
          'invalid_request',
        );
        await expectKeyhavenError(
          () => vault.retain({ userId, credentialId: id as string, holder: 'vid_1' }),
          'invalid_request',
        );
      }
      for (const holder of ['', 'has space', 'x'.repeat(129)]) {
        await expectKeyhavenError(() => vault.retain({ userId, credentialId, holder }), 'invalid_request');
      }
      await expectKeyhavenError(
        () => vault.store({ userId, provider, credentials: { apiKey: fakeApiKey() }, actor: 'two words' }),
        'invalid_request',
      );
    });

    it('stores a google-veo service account and refuses a malformed one', async () => {
      const userId = randomUserId();
      const privateKey = '-----BEGIN PRIVATE KEY-----\\nTESTONLYnotarealkey\\n-----END PRIVATE KEY-----\\n';
      const serviceAccount = JSON.stringify({
        type: 'service_account',
        project_id: 'test-project',
        private_key_id: 'testkeyid0000000000000000000abcd',
        private_key: privateKey,
        client_email: 'test@test-project.iam.gserviceaccount.com',
      });
      const summary = await vault.store({
        userId,
        provider: 'google-veo',
        credentials: { serviceAccount, location: 'us-central1' },
      });
      expect(summary.maskedKey).toBe('****abcd');
      const revealed = await vault.reveal({ userId, provider: 'google-veo', purpose: 'proxy' });
      expect(revealed.credentials.serviceAccount?.reveal()).toBe(serviceAccount);
      expect(revealed.credentials.location?.reveal()).toBe('us-central1');
      const error = await expectKeyhavenError(
        () =>
          vault.store({
            userId,
            provider: 'google-veo',
            credentials: {
              serviceAccount: JSON.stringify({ type: 'service_account', private_key: privateKey }),
            },
          }),
        'invalid_request',
      );
      expect(errorText(error)).not.toContain('TESTONLYnotarealkey');
    });
  });

  describe('security 13: a store that fails part-way changes nothing', () => {
    async function snapshot(userId: string) {
      const credentials = await database.db
        .selectFrom('credentials')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('version')
        .execute();
      const dataKeys = await database.db
        .selectFrom('data_keys')
        .selectAll()
        .where('user_id', '=', userId)
        .execute();
      return JSON.stringify({ credentials, dataKeys }, (_key, value: unknown) =>
        value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value,
      );
    }

    it('keeps the previous version current and decryptable when a write of the rotation fails', async () => {
      const userId = randomUserId();
      const original = fakeApiKey('survivor');
      const first = await vault.store({ userId, provider: 'openai', credentials: { apiKey: original } });
      await vault.retain({ userId, credentialId: first.credentialId ?? '', holder: 'vid_running' });
      const second = await vault.store({ userId, provider: 'openai', credentials: { apiKey: original } });
      const before = await snapshot(userId);
      const auditBefore = await vault.listAudit({ userId });

      for (const table of ['credentials', 'audit_events']) {
        const broken = createVault({
          db: database.db.withPlugin(
            failingQueries((query) => query.kind === 'InsertQueryNode' && query.table === table),
          ),
          kms,
          validate: validator.validate,
        });
        try {
          const error = await failure(() =>
            broken.store({ userId, provider: 'openai', credentials: { apiKey: fakeApiKey('lost') } }),
          );
          expect(String(error)).toContain('injected database failure');
        } finally {
          await broken.close();
        }
        expect(await snapshot(userId), `after a failed insert into ${table}`).toBe(before);
        expect(await vault.get({ userId, provider: 'openai' })).toMatchObject({
          credentialId: second.credentialId,
          version: 2,
        });
        expect(await revealKey(userId, 'openai')).toBe(original);
        const retained = await vault.revealVersion({
          userId,
          credentialId: first.credentialId ?? '',
          purpose: 'video.poll',
        });
        expect(retained.credentials.apiKey?.reveal()).toBe(original);
      }
      const auditAfter = (await vault.listAudit({ userId })).filter(
        (event) => event.action !== 'credential.reveal',
      );
      expect(auditAfter).toEqual(auditBefore.filter((event) => event.action !== 'credential.reveal'));
      expect((await vault.verifyAudit()).ok).toBe(true);
    });

    it('leaves no data key behind when wrapping a new user’s data key fails, and a retry works', async () => {
      const userId = randomUserId();
      const broken = createVault({
        db: database.db,
        kms: countingKms(kms, { failWrapsAfter: 0 }),
        validate: validator.validate,
      });
      try {
        const error = await failure(() =>
          broken.store({ userId, provider: 'anthropic', credentials: { apiKey: fakeApiKey() } }),
        );
        expect(String(error)).toContain('key management service is unavailable');
      } finally {
        await broken.close();
      }
      expect(await snapshot(userId)).toBe(JSON.stringify({ credentials: [], dataKeys: [] }));
      const apiKey = fakeApiKey();
      await vault.store({ userId, provider: 'anthropic', credentials: { apiKey } });
      expect(await revealKey(userId, 'anthropic')).toBe(apiKey);
    });
  });

  it('keeps what a failed statement wrote out of the table: one current row per user and provider', async () => {
    const userId = randomUserId();
    const stored = await vault.store({ userId, provider: 'openai', credentials: { apiKey: fakeApiKey() } });
    const row = await database.db
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', stored.credentialId ?? '')
      .executeTakeFirstOrThrow();
    const duplicate = sql`insert into credentials select ${'cred_000000000000000000000001'}, user_id, provider,
      version + 1, dek_version, secret, masked_key, fingerprint, status, status_reason, is_current, created_at,
      updated_at, last_validated_at, last_used_at, superseded_at from credentials where id = ${row.id}`;
    await expect(duplicate.execute(database.db)).rejects.toThrow(/credentials_one_current/);
    expect(await versionsInDatabase(userId, 'openai')).toHaveLength(1);
  });
});
