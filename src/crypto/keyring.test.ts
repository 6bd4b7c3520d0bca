import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyringConfigError } from './errors.ts';
import {
  createKeyring,
  generateMasterKey,
  KEY_FILE_NAME,
  type Keyring,
  loadKeyring,
  parseEncryptionKey,
  parseMasterKeys,
} from './keyring.ts';
import { createLocalKms } from './kms.ts';

/** Security test 22: master-key configuration is strict, and its errors never echo key material. */

const keyBytes = () => randomBytes(32);
const base64Key = () => keyBytes().toString('base64');

/** The input and every form of it an error might echo: as given, base64, hex, decoded and re-encoded. */
function materialForms(input: string): string[] {
  const forms = [input, Buffer.from(input).toString('base64'), Buffer.from(input).toString('hex')];
  const asBase64 = Buffer.from(input, 'base64');
  if (asBase64.length >= 8) forms.push(asBase64.toString('hex'), asBase64.toString('base64'));
  if (/^[0-9a-fA-F]+$/.test(input) && input.length >= 16)
    forms.push(Buffer.from(input, 'hex').toString('base64'));
  if (input.length >= 24) forms.push(input.slice(4, 20));
  return forms.filter((form) => form.length >= 8);
}

function expectConfigError(
  operation: () => unknown,
  variable: string,
  material: string[],
): KeyringConfigError {
  let caught: unknown;
  try {
    operation();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KeyringConfigError);
  const error = caught as KeyringConfigError;
  expect(error.variable).toBe(variable);
  expect(error.message).toContain(variable);
  const printed = [
    error.message,
    error.stack ?? '',
    String(error),
    inspect(error),
    JSON.stringify(error),
  ].join('\n');
  for (const input of material) {
    for (const form of materialForms(input)) {
      expect(printed.includes(form), `error echoes key material (${form.length} chars)`).toBe(false);
    }
  }
  return error;
}

/** Canonical base64 of 32 bytes with one of the two unused low bits set: decodes to the same bytes. */
function nonCanonical(key: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const canonical = key.toString('base64');
  const last = alphabet.indexOf(canonical.charAt(42));
  return `${canonical.slice(0, 42)}${alphabet.charAt(last | 1)}=`;
}

describe('parseMasterKeys', () => {
  it('accepts v<version>:<base64 of 32 bytes> and holds exactly those bytes', () => {
    const key = keyBytes();
    const keyring = parseMasterKeys(`v1:${key.toString('base64')}`);
    expect(keyring.source).toBe('KEYHAVEN_MASTER_KEYS');
    expect(keyring.activeVersion).toBe(1);
    expect(keyring.versions).toEqual([1]);
    expect(keyring.key(1)).toEqual(key);
  });

  it('makes the highest version active by default, comparing versions as numbers', () => {
    const keys = { 2: keyBytes(), 9: keyBytes(), 10: keyBytes() };
    const value = ` v2:${keys[2].toString('base64')} ,\nv10:${keys[10].toString('base64')},v9:${keys[9].toString('base64')}\n`;
    const keyring = parseMasterKeys(value);
    expect(keyring.activeVersion).toBe(10);
    expect(keyring.versions).toEqual([2, 9, 10]);
    expect(keyring.key(9)).toEqual(keys[9]);
  });

  it('KEYHAVEN_ACTIVE_MASTER_KEY overrides the active version', () => {
    const value = `v1:${base64Key()},v2:${base64Key()}`;
    expect(parseMasterKeys(value, 'v1').activeVersion).toBe(1);
    expect(parseMasterKeys(value, '1').activeVersion).toBe(1);
    expect(parseMasterKeys(value, '').activeVersion).toBe(2);
  });

  const key = keyBytes();
  const good = key.toString('base64');
  const urlUnsafe = Buffer.alloc(32, 0xfb).toString('base64');
  const rejected: [string, string][] = [
    ['non-base64 characters', `v1:${'!'.repeat(43)}=`],
    ['a raw string', 'v1:correct-horse-battery-staple-and-more'],
    ['a bare key without a version', good],
    ['a raw string without a version', 'correct horse battery staple'],
    ['base64 of 31 bytes', `v1:${randomBytes(31).toString('base64')}`],
    ['base64 of 33 bytes', `v1:${randomBytes(33).toString('base64')}`],
    ['base64 of 16 bytes', `v1:${randomBytes(16).toString('base64')}`],
    ['base64 of 64 bytes', `v1:${randomBytes(64).toString('base64')}`],
    ['non-canonical base64 (unused bits set)', `v1:${nonCanonical(key)}`],
    ['base64 without its padding', `v1:${good.slice(0, -1)}`],
    ['base64url instead of base64', `v1:${Buffer.alloc(32, 0xfb).toString('base64url')}=`],
    ['base64 with a space inside', `v1:${urlUnsafe.slice(0, 20)} ${urlUnsafe.slice(20)}`],
    ['hex (64 characters)', `v1:${key.toString('hex')}`],
    ['version v0', `v0:${good}`],
    ['a version with a leading zero', `v01:${good}`],
    ['a negative version', `v-1:${good}`],
    ['a version without the v', `1:${good}`],
    ['an empty value', ''],
    ['only separators', ' , \n ,'],
    ['one good key and one bad', `v1:${good},v2:${randomBytes(31).toString('base64')}`],
  ];

  it.each(rejected)('rejects %s, naming the variable and never the key', (_name, value) => {
    expectConfigError(() => parseMasterKeys(value), 'KEYHAVEN_MASTER_KEYS', [
      value,
      good,
      ...value.split(/[:,]/),
    ]);
  });

  it('the non-canonical case decodes to the same bytes (a lax parser would accept it)', () => {
    expect(Buffer.from(nonCanonical(key), 'base64')).toEqual(key);
    expect(nonCanonical(key)).not.toBe(good);
  });

  it('rejects a version given twice', () => {
    const first = base64Key();
    const second = base64Key();
    const error = expectConfigError(
      () => parseMasterKeys(`v1:${first},v1:${second}`),
      'KEYHAVEN_MASTER_KEYS',
      [first, second],
    );
    expect(error.message).toContain('v1');
  });

  it('rejects an active version that is not in the keyring, naming KEYHAVEN_ACTIVE_MASTER_KEY', () => {
    const first = base64Key();
    const second = base64Key();
    const error = expectConfigError(
      () => parseMasterKeys(`v1:${first},v2:${second}`, 'v3'),
      'KEYHAVEN_ACTIVE_MASTER_KEY',
      [first, second],
    );
    expect(error.message).toContain('v3');
  });

  it('rejects a key pasted into KEYHAVEN_ACTIVE_MASTER_KEY without echoing it', () => {
    const first = base64Key();
    expectConfigError(() => parseMasterKeys(`v1:${first}`, first), 'KEYHAVEN_ACTIVE_MASTER_KEY', [first]);
    expectConfigError(() => parseMasterKeys(`v1:${first}`, 'v0'), 'KEYHAVEN_ACTIVE_MASTER_KEY', [first]);
  });
});

describe('parseEncryptionKey', () => {
  it('takes exactly 64 hex characters as version 1', () => {
    const key = keyBytes();
    for (const value of [
      key.toString('hex'),
      key.toString('hex').toUpperCase(),
      ` ${key.toString('hex')}\n`,
    ]) {
      const keyring = parseEncryptionKey(value);
      expect(keyring.source).toBe('ENCRYPTION_KEY');
      expect(keyring.versions).toEqual([1]);
      expect(keyring.activeVersion).toBe(1);
      expect(keyring.key(1)).toEqual(key);
    }
  });

  const hex = keyBytes().toString('hex');
  it.each([
    ['63 hex characters', hex.slice(0, 63)],
    ['65 hex characters', `${hex}a`],
    ['a non-hex character', `${hex.slice(0, 63)}g`],
    ['a 0x prefix', `0x${hex}`],
    ['base64 of 32 bytes', base64Key()],
    ['a raw string', 'correct-horse-battery-staple-and-more'],
    ['an empty value', ''],
    ['hex with a space inside', `${hex.slice(0, 32)} ${hex.slice(32)}`],
  ])('rejects %s, naming ENCRYPTION_KEY and never the key', (_name, value) => {
    expectConfigError(() => parseEncryptionKey(value), 'ENCRYPTION_KEY', [value, ...value.split(' ')]);
  });
});

describe('createKeyring and generateMasterKey', () => {
  it('copies the keys it is given', () => {
    const key = keyBytes();
    const original = Buffer.from(key);
    const keyring = createKeyring(new Map([[1, key]]), 'KEYHAVEN_MASTER_KEYS');
    key.fill(0);
    expect(keyring.key(1)).toEqual(original);
  });

  it('refuses keys that are not 32 bytes and a missing active version', () => {
    expect(() => createKeyring(new Map([[1, randomBytes(16)]]), 'KEYHAVEN_MASTER_KEYS')).toThrow(RangeError);
    expect(() => createKeyring(new Map([[1, keyBytes()]]), 'KEYHAVEN_MASTER_KEYS', 2)).toThrow(RangeError);
    expect(() => createKeyring(new Map(), 'KEYHAVEN_MASTER_KEYS')).toThrow(RangeError);
  });

  it('generates canonical base64 of 32 fresh random bytes that parseMasterKeys accepts', () => {
    const first = generateMasterKey();
    const second = generateMasterKey();
    expect(first).not.toBe(second);
    for (const key of [first, second]) {
      expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(key, 'base64').toString('base64')).toBe(key);
      expect(parseMasterKeys(`v1:${key}`).key(1)).toEqual(Buffer.from(key, 'base64'));
    }
  });
});

describe('loadKeyring', () => {
  const directories: string[] = [];
  function dataDir(): string {
    const directory = mkdtempSync(join(tmpdir(), 'keyhaven-keyring-'));
    directories.push(directory);
    return join(directory, 'data');
  }
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  /** Proves two keyrings hold the same active key: one wraps, the other unwraps. */
  async function expectSameKey(first: Keyring, second: Keyring) {
    const dek = randomBytes(32);
    const context = { tenant: 'default', userId: 'usr_alice', dekVersion: 1 };
    const wrapped = await createLocalKms(first).wrap(dek, context);
    expect(await createLocalKms(second).unwrap(wrapped, context)).toEqual(dek);
  }

  it('uses KEYHAVEN_MASTER_KEYS and creates no key file, even when embedded', () => {
    const directory = dataDir();
    const warn = vi.fn();
    const keyring = loadKeyring({
      env: { KEYHAVEN_MASTER_KEYS: `v1:${base64Key()},v2:${base64Key()}` },
      dataDir: directory,
      embedded: true,
      warn,
    });
    expect(keyring.source).toBe('KEYHAVEN_MASTER_KEYS');
    expect(keyring.activeVersion).toBe(2);
    expect(existsSync(join(directory, KEY_FILE_NAME))).toBe(false);
    expect(warn).not.toHaveBeenCalled();
  });

  it('KEYHAVEN_ACTIVE_MASTER_KEY=v1 overrides the highest version', () => {
    const keyring = loadKeyring({
      env: { KEYHAVEN_MASTER_KEYS: `v1:${base64Key()},v2:${base64Key()}`, KEYHAVEN_ACTIVE_MASTER_KEY: 'v1' },
      dataDir: dataDir(),
      embedded: false,
    });
    expect(keyring.activeVersion).toBe(1);
  });

  it('uses ENCRYPTION_KEY as version 1', () => {
    const key = keyBytes();
    const keyring = loadKeyring({
      env: { ENCRYPTION_KEY: key.toString('hex') },
      dataDir: dataDir(),
      embedded: false,
    });
    expect(keyring.source).toBe('ENCRYPTION_KEY');
    expect(keyring.key(1)).toEqual(key);
  });

  it('refuses both variables at once, without echoing either', () => {
    const masterKeys = `v1:${base64Key()}`;
    const encryptionKey = keyBytes().toString('hex');
    const error = expectConfigError(
      () =>
        loadKeyring({
          env: { KEYHAVEN_MASTER_KEYS: masterKeys, ENCRYPTION_KEY: encryptionKey },
          dataDir: dataDir(),
          embedded: true,
        }),
      'ENCRYPTION_KEY',
      [masterKeys, masterKeys.slice(3), encryptionKey],
    );
    expect(error.message).toContain('KEYHAVEN_MASTER_KEYS');
  });

  it('refuses KEYHAVEN_ACTIVE_MASTER_KEY with ENCRYPTION_KEY', () => {
    const encryptionKey = keyBytes().toString('hex');
    expectConfigError(
      () =>
        loadKeyring({
          env: { ENCRYPTION_KEY: encryptionKey, KEYHAVEN_ACTIVE_MASTER_KEY: 'v1' },
          dataDir: dataDir(),
          embedded: false,
        }),
      'KEYHAVEN_ACTIVE_MASTER_KEY',
      [encryptionKey],
    );
  });

  it('passes invalid values through the strict parsers', () => {
    const hex = keyBytes().toString('hex');
    expectConfigError(
      () => loadKeyring({ env: { KEYHAVEN_MASTER_KEYS: `v1:${hex}` }, dataDir: dataDir(), embedded: true }),
      'KEYHAVEN_MASTER_KEYS',
      [hex],
    );
    const short = hex.slice(0, 62);
    expectConfigError(
      () => loadKeyring({ env: { ENCRYPTION_KEY: short }, dataDir: dataDir(), embedded: true }),
      'ENCRYPTION_KEY',
      [short],
    );
  });

  it('refuses to start without a key when not embedded, and writes no file', () => {
    const directory = dataDir();
    const warn = vi.fn();
    for (const env of [{}, { KEYHAVEN_MASTER_KEYS: '  ' }, { ENCRYPTION_KEY: '' }]) {
      expectConfigError(
        () => loadKeyring({ env, dataDir: directory, embedded: false, warn }),
        'KEYHAVEN_MASTER_KEYS',
        [],
      );
    }
    expect(existsSync(directory)).toBe(false);
    expect(warn).not.toHaveBeenCalled();
  });

  describe('key file (embedded, no key configured)', () => {
    it('is created with mode 0600 on first load, with one warning that names KEYHAVEN_MASTER_KEYS', async () => {
      const directory = dataDir();
      const warn = vi.fn();
      const first = loadKeyring({ env: {}, dataDir: directory, embedded: true, warn });
      const path = join(directory, KEY_FILE_NAME);
      expect(first.source).toBe('key-file');
      expect(first.versions).toEqual([1]);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readdirSync(directory)).toEqual([KEY_FILE_NAME]);
      expect(warn).toHaveBeenCalledTimes(1);
      const message = String(warn.mock.calls[0]?.[0]);
      expect(message).toContain('KEYHAVEN_MASTER_KEYS');
      expect(message).toContain(path);
      const content = readFileSync(path, 'utf8');
      for (const form of materialForms(content.trim().slice(3))) expect(message).not.toContain(form);

      warn.mockClear();
      const second = loadKeyring({ env: {}, dataDir: directory, embedded: true, warn });
      expect(warn).not.toHaveBeenCalled();
      expect(readFileSync(path, 'utf8')).toBe(content);
      await expectSameKey(first, second);
      await expectSameKey(second, first);
      // The advertised migration: the file's content works as KEYHAVEN_MASTER_KEYS.
      await expectSameKey(first, parseMasterKeys(content));
    });

    it('reuses an existing file without rewriting it, and applies KEYHAVEN_ACTIVE_MASTER_KEY', async () => {
      const directory = dataDir();
      const keys = [base64Key(), base64Key()];
      const content = `v1:${keys[0]}\nv2:${keys[1]}\n`;
      loadKeyring({ env: {}, dataDir: directory, embedded: true, warn: () => {} });
      const path = join(directory, KEY_FILE_NAME);
      writeFileSync(path, content, { mode: 0o600 });
      const warn = vi.fn();
      const keyring = loadKeyring({ env: {}, dataDir: directory, embedded: true, warn });
      expect(keyring.activeVersion).toBe(2);
      expect(keyring.key(1)).toEqual(Buffer.from(keys[0] ?? '', 'base64'));
      expect(readFileSync(path, 'utf8')).toBe(content);
      expect(warn).not.toHaveBeenCalled();
      const pinned = loadKeyring({
        env: { KEYHAVEN_ACTIVE_MASTER_KEY: 'v1' },
        dataDir: directory,
        embedded: true,
        warn,
      });
      expect(pinned.activeVersion).toBe(1);
      await expectSameKey(pinned, parseMasterKeys(`v1:${keys[0]}`));
    });

    it('warns when the file is readable by other users', () => {
      const directory = dataDir();
      loadKeyring({ env: {}, dataDir: directory, embedded: true, warn: () => {} });
      chmodSync(join(directory, KEY_FILE_NAME), 0o644);
      const warn = vi.fn();
      loadKeyring({ env: {}, dataDir: directory, embedded: true, warn });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain('chmod 600');
    });

    it('a corrupted or empty file is refused, naming the file and not echoing its content', () => {
      const directory = dataDir();
      loadKeyring({ env: {}, dataDir: directory, embedded: true, warn: () => {} });
      const path = join(directory, KEY_FILE_NAME);
      for (const content of [
        `v1:${randomBytes(31).toString('base64')}\n`,
        'hunter2-not-a-key-at-all\n',
        '',
      ]) {
        writeFileSync(path, content);
        expectConfigError(
          () => loadKeyring({ env: {}, dataDir: directory, embedded: true, warn: () => {} }),
          `master key file ${path}`,
          [content.trim(), content.trim().slice(3)],
        );
      }
    });

    it('ENCRYPTION_KEY or KEYHAVEN_MASTER_KEYS take precedence over an existing file', () => {
      const directory = dataDir();
      loadKeyring({ env: {}, dataDir: directory, embedded: true, warn: () => {} });
      const key = keyBytes();
      const keyring = loadKeyring({
        env: { ENCRYPTION_KEY: key.toString('hex') },
        dataDir: directory,
        embedded: true,
      });
      expect(keyring.source).toBe('ENCRYPTION_KEY');
      expect(keyring.key(1)).toEqual(key);
    });
  });
});
