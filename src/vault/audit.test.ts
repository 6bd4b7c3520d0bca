import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTargets, type TestDatabase } from '../../test/support/databases.ts';
import {
  createFakeValidator,
  failure,
  fakeApiKey,
  randomUserId,
  secretForms,
  singleKeyKms,
} from '../../test/support/vault.ts';
import type { AuditEventRow } from '../store/index.ts';
import { hashAuditRow } from './audit.ts';
import { createVault, type Vault } from './index.ts';

/**
 * The hash-chained audit log: what it records, that verify() accepts an intact chain and names the
 * first row that was altered or removed, and that concurrent writers keep the chain gapless.
 */
describe.each(databaseTargets)('audit log on $name', (target) => {
  let database: TestDatabase;
  let vault: Vault;
  const validator = createFakeValidator();
  const secrets: string[] = [];

  beforeAll(async () => {
    database = await target.open();
    // Only explicit flushes write reveal events, so the order of events is deterministic.
    vault = createVault({
      db: database.db,
      kms: singleKeyKms(),
      validate: validator.validate,
      audit: { flushIntervalMs: 60_000 },
    });
  });

  afterAll(async () => {
    await vault?.close();
    await database?.close();
  });

  function key(label: string) {
    const apiKey = fakeApiKey(label);
    secrets.push(apiKey);
    return apiKey;
  }

  async function allRows(): Promise<AuditEventRow[]> {
    return database.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
  }

  it('records every operation with its actor and purpose, and verifies', async () => {
    const userId = randomUserId('audited');
    const actor = 'admin@example.test';
    const first = await vault.store({
      userId,
      provider: 'openai',
      credentials: { apiKey: key('one') },
      actor,
    });
    await vault.reveal({ userId, provider: 'openai', purpose: 'proxy', actor });
    await vault.flush();
    await vault.retain({ userId, credentialId: first.credentialId ?? '', holder: 'vid_1' });
    await vault.store({ userId, provider: 'openai', credentials: { apiKey: key('two') }, actor });
    await vault.release({ userId, credentialId: first.credentialId ?? '', holder: 'vid_1' });
    await failure(() =>
      vault.store({ userId, provider: 'openai', credentials: { apiKey: key('invalid') }, actor }),
    );
    await vault.test({ userId, provider: 'openai', actor });
    await vault.flush();
    await vault.markInvalid({ userId, provider: 'openai', reason: 'billing hard limit reached', actor });
    await vault.store({ userId, provider: 'mistral', credentials: { apiKey: key('three') }, actor });
    await vault.remove({ userId, provider: 'mistral', actor });
    await vault.rewrap({ actor });
    await vault.setMinDecryptVersion({ version: 1, actor });
    await vault.shred({ userId, actor });
    await vault.flush();

    const mine = await vault.listAudit({ userId });
    expect(mine.map((event) => [event.action, event.provider, event.purpose])).toEqual([
      ['credential.store', 'openai', null],
      ['credential.reveal', 'openai', 'proxy'],
      ['credential.store', 'openai', null],
      ['credential.purge', 'openai', null],
      ['credential.reject', 'openai', null],
      ['credential.status', 'openai', null],
      ['credential.reveal', 'openai', 'validate'],
      ['credential.status', 'openai', null],
      ['credential.store', 'mistral', null],
      ['credential.remove', 'mistral', null],
      ['user.shred', null, null],
    ]);
    // The purge happened on release, done by the system; everything else names the caller.
    expect(mine.map((event) => event.actor)).toEqual([
      actor,
      actor,
      actor,
      'system',
      actor,
      actor,
      actor,
      actor,
      actor,
      actor,
      actor,
    ]);
    expect(mine[3]?.credential_id).toBe(first.credentialId);
    expect(mine[5]?.detail).toEqual({ status: 'valid', reason: null });
    expect(mine[7]?.detail).toEqual({ status: 'invalid', reason: 'billing hard limit reached' });
    const everything = await vault.listAudit({ limit: 1000 });
    expect(everything.map((event) => event.action)).toEqual(
      expect.arrayContaining(['keyring.rewrap', 'keyring.min_decrypt_version']),
    );

    const verification = await vault.verifyAudit();
    expect(verification).toMatchObject({
      ok: true,
      count: everything.length,
      headSeq: String(everything.length),
    });
    // Sequence numbers come back as strings (int8) on both drivers.
    expect(everything.every((event, index) => event.seq === String(index + 1))).toBe(true);
  });

  it('never holds a secret, even one a provider echoed in its refusal', async () => {
    const dump = await sql<{ row: string }>`select t::text as row from audit_events as t`.execute(
      database.db,
    );
    const text = dump.rows.map((row) => row.row).join('\n');
    expect(text).toContain('[REDACTED]');
    expect(secrets.length).toBeGreaterThan(3);
    for (const secret of secrets) {
      for (const form of secretForms(secret)) expect(text.includes(form)).toBe(false);
      // The random tail alone, in case a prefix was cut off.
      expect(text.includes(secret.slice(-16))).toBe(false);
    }
  });

  describe('tampering', () => {
    /** A row from the middle of the chain: what an insider would edit. */
    async function middleRow(): Promise<AuditEventRow> {
      const rows = await allRows();
      const row = rows[Math.floor(rows.length / 2)];
      if (!row || rows.length < 5) throw new Error('the audit log is too short for this test');
      return row;
    }

    async function restore(row: AuditEventRow) {
      await database.db
        .updateTable('audit_events')
        .set({ action: row.action, detail: JSON.stringify(row.detail), actor: row.actor, hash: row.hash })
        .where('seq', '=', row.seq)
        .execute();
      expect((await vault.verifyAudit()).ok).toBe(true);
    }

    it('names the row whose detail was changed', async () => {
      const row = await middleRow();
      await database.db
        .updateTable('audit_events')
        .set({ detail: JSON.stringify({ ...row.detail, tampered: true }) })
        .where('seq', '=', row.seq)
        .execute();
      const verification = await vault.verifyAudit();
      expect(verification).toMatchObject({ ok: false, brokenSeq: row.seq });
      expect(verification.ok === false && verification.reason).toContain('altered');
      await restore(row);
    });

    it('names the row whose action or actor was changed', async () => {
      const row = await middleRow();
      const action = row.action === 'credential.status' ? 'credential.store' : 'credential.status';
      for (const change of [{ action }, { actor: 'someone-else' }]) {
        await database.db.updateTable('audit_events').set(change).where('seq', '=', row.seq).execute();
        expect(await vault.verifyAudit()).toMatchObject({ ok: false, brokenSeq: row.seq });
        await restore(row);
      }
    });

    it('catches an altered row whose hash was recomputed without the master key, and every rewritten chain', async () => {
      // An attacker with write access to the database but not the master key can only guess the chain's
      // HMAC key, or fall back to a plain hash: either way the altered row itself no longer verifies.
      const row = await middleRow();
      const detail = { ...row.detail, tampered: true };
      const fields = {
        seq: row.seq,
        occurredAt: row.occurred_at,
        action: row.action,
        actor: row.actor,
        userId: row.user_id,
        provider: row.provider,
        credentialId: row.credential_id,
        purpose: row.purpose,
        detail,
        prevHash: row.prev_hash,
      };
      for (const hash of [
        hashAuditRow(randomBytes(32), fields),
        createHash('sha256')
          .update(JSON.stringify(Object.values(fields)))
          .digest('hex'),
      ]) {
        await database.db
          .updateTable('audit_events')
          .set({ detail: JSON.stringify(detail), hash })
          .where('seq', '=', row.seq)
          .execute();
        const verification = await vault.verifyAudit();
        expect(verification).toMatchObject({ ok: false, brokenSeq: row.seq });
        expect(verification.ok === false && verification.reason).toContain('altered');
      }
      await restore(row);
    });

    it('names the missing row when one is deleted from the middle', async () => {
      const row = await middleRow();
      await database.db.deleteFrom('audit_events').where('seq', '=', row.seq).execute();
      const verification = await vault.verifyAudit();
      expect(verification).toMatchObject({ ok: false, brokenSeq: row.seq });
      expect(verification.ok === false && verification.reason).toContain('missing');
      await database.db
        .insertInto('audit_events')
        .values({ ...row, detail: JSON.stringify(row.detail) })
        .execute();
      expect((await vault.verifyAudit()).ok).toBe(true);
    });
  });

  it('keeps a gapless, valid chain when many operations and two instances write at once', async () => {
    const other = createVault({ db: database.db, kms: singleKeyKms(), audit: { flushIntervalMs: 1 } });
    const fast = createVault({ db: database.db, kms: singleKeyKms(), audit: { flushIntervalMs: 1 } });
    try {
      const before = await vault.verifyAudit();
      const users = Array.from({ length: 6 }, () => randomUserId('chain'));
      const operations: Promise<unknown>[] = [];
      for (const [index, userId] of users.entries()) {
        // Each user belongs to one instance (data keys are wrapped by that instance's master key).
        const instance = index % 2 === 0 ? other : fast;
        operations.push(
          (async () => {
            for (let round = 0; round < 4; round += 1) {
              await instance.store({
                userId,
                provider: 'openai',
                credentials: { apiKey: fakeApiKey() },
                validate: false,
              });
              await instance.reveal({ userId, provider: 'openai', purpose: `round${round}` });
            }
            await instance.markInvalid({ userId, provider: 'openai', reason: 'expired' });
            await instance.remove({ userId, provider: 'openai' });
          })(),
        );
      }
      await Promise.all(operations);
      await other.flush();
      await fast.flush();
      const verification = await vault.verifyAudit();
      expect(verification.ok).toBe(true);
      const rows = await allRows();
      expect(rows.map((row) => row.seq)).toEqual(rows.map((_, index) => String(index + 1)));
      // 6 users x (4 stores + 3 purges + 4 reveals + status + remove).
      expect(verification.count - before.count).toBe(6 * 13);
    } finally {
      await other.close();
      await fast.close();
    }
  });
});
