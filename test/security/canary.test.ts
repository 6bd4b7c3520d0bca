import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLocalKms, generateMasterKey, parseMasterKeys } from '../../src/crypto/index.ts';
import { createVault, type ValidateCredential, type Vault } from '../../src/vault/index.ts';
import { expectNoCanary as expectCanaryAbsent, expectNoCanaryInDatabase } from '../support/canary.ts';
import { databaseTargets, type TestDatabase } from '../support/databases.ts';

/**
 * Security test 20 for the vault layer: a canary key goes through every flow, failures included, and
 * must appear nowhere but in what the (fake) provider receives: not in console output, errors, audit
 * events, or any table of the database (as text, hex or base64).
 */
const canary = `sk-CANARY-${randomBytes(12).toString('hex')}`;

const expectNoCanary = (haystack: string, where: string) => expectCanaryAbsent(canary, haystack, where);

describe.each(databaseTargets)('canary leak scan on $name', (target) => {
  let database: TestDatabase;
  let vault: Vault;
  const seenByProvider: string[] = [];
  const captured: string[] = [];
  const errors: unknown[] = [];

  const validate: ValidateCredential = async (_provider, credentials) => {
    const key = credentials.apiKey?.reveal() ?? '';
    seenByProvider.push(key);
    if (key.includes('invalid')) return { status: 'invalid', reason: `Incorrect API key provided: ${key}` };
    if (key.includes('throws')) throw new Error(`upstream exploded while checking ${key}`);
    return { status: 'valid' };
  };

  beforeAll(async () => {
    database = await target.open();
    vault = createVault({
      db: database.db,
      kms: createLocalKms(parseMasterKeys(`v1:${generateMasterKey()}`)),
      validate,
    });
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        captured.push(
          args.map((arg) => (typeof arg === 'string' ? arg : inspect(arg, { depth: 10 }))).join(' '),
        );
      });
    }
    const write = process.stderr.write.bind(process.stderr);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return (write as (...parts: unknown[]) => boolean)(chunk, ...rest);
    });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await vault?.close();
    await database?.close();
  });

  async function attempt(run: () => Promise<unknown>) {
    try {
      const result = await run();
      captured.push(inspect(result, { depth: 10 }), JSON.stringify(result));
    } catch (error) {
      errors.push(error);
    }
  }

  it('the canary never leaves the vault except towards the provider', async () => {
    const userId = `canary-${randomBytes(4).toString('hex')}`;
    const provider = 'openai';
    // The happy paths: store, reveal, summaries, test, rotate, references.
    await attempt(() => vault.store({ userId, provider, credentials: { apiKey: canary } }));
    await attempt(async () => {
      const revealed = await vault.reveal({ userId, provider, purpose: 'proxy' });
      expect(revealed.credentials.apiKey?.reveal()).toBe(canary);
      return revealed;
    });
    await attempt(() => vault.get({ userId, provider }));
    await attempt(() => vault.list({ userId }));
    await attempt(() => vault.test({ userId, provider }));
    // Failures: the provider refuses and echoes the key; a validator throws with the key in its message.
    await attempt(() => vault.store({ userId, provider, credentials: { apiKey: `${canary}-invalid` } }));
    await attempt(() => vault.store({ userId, provider, credentials: { apiKey: `${canary}-throws` } }));
    // Bad input that carries the canary: oversize key, unknown field, wrong type, bad user id.
    await attempt(() =>
      vault.store({ userId, provider, credentials: { apiKey: `${canary}${'x'.repeat(9000)}` } }),
    );
    await attempt(() =>
      vault.store({ userId, provider, credentials: { apiKey: 'sk-test-ok-000000', extra: canary } }),
    );
    await attempt(() => vault.store({ userId, provider, credentials: { apiKey: [canary] } }));
    await attempt(() =>
      vault.store({ userId: `${canary} / not valid`, provider, credentials: { apiKey: canary } }),
    );
    await attempt(() => vault.reveal({ userId, provider, purpose: canary }));
    // Tampering: a flipped byte in a stored blob that no reveal has cached yet.
    await attempt(() => vault.store({ userId, provider: 'mistral', credentials: { apiKey: canary } }));
    // Every bit of one ciphertext byte is inverted (writing a fixed byte left it unchanged 1 time in 256).
    await sql`update credentials set secret = set_byte(secret, 89, get_byte(secret, 89) # 255) where user_id = ${userId} and provider = 'mistral'`.execute(
      database.db,
    );
    await attempt(() => vault.reveal({ userId, provider: 'mistral', purpose: 'proxy' }));
    // Rotation to a clean key, then removal and a shred.
    await attempt(() => vault.store({ userId, provider, credentials: { apiKey: 'sk-test-rotated-000001' } }));
    await attempt(() => vault.remove({ userId, provider }));
    await attempt(() => vault.store({ userId, provider: 'anthropic', credentials: { apiKey: canary } }));
    await vault.flush();
    await attempt(() => vault.listAudit({ userId }));

    expect(errors.map((error) => (error as { code?: string }).code)).toEqual([
      'credential_invalid',
      'provider_unavailable',
      'invalid_request',
      'invalid_request',
      'invalid_request',
      'invalid_request',
      'invalid_request',
      'decryption_failed',
    ]);
    expect(seenByProvider).toContain(canary);

    for (const error of errors) {
      const text = [
        String(error),
        error instanceof Error ? (error.stack ?? '') : '',
        inspect(error, { depth: 10, showHidden: true }),
        JSON.stringify(error),
      ].join('\n');
      expectNoCanary(text, 'an error');
    }
    expectNoCanary(captured.join('\n'), 'console output or a returned value');

    // The whole database, every table, as text and with bytea in hex (base64 is covered by the forms).
    expect(await expectNoCanaryInDatabase(canary, database)).toContain('credentials');
    await attempt(() => vault.shred({ userId }));
  });
});
