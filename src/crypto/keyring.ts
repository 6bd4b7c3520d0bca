import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { KeyringConfigError } from './errors.ts';

/**
 * The versioned master keys (KEKs). Sources, in order: KEYHAVEN_MASTER_KEYS (`v1:<base64>,v2:<base64>`),
 * ENCRYPTION_KEY (64 hex characters = version 1), or, for the embedded default only, a key file created
 * on first use in the data directory. Parsing is strict and no error ever echoes key material.
 */
export const MASTER_KEY_LENGTH = 32;
export const KEY_FILE_NAME = 'master-keys';

export type KeyringSource = 'KEYHAVEN_MASTER_KEYS' | 'ENCRYPTION_KEY' | 'key-file';

export interface Keyring {
  readonly source: KeyringSource;
  readonly activeVersion: number;
  /** Ascending. */
  readonly versions: readonly number[];
  key(version: number): Buffer | undefined;
  /** Zeroes every key. The keyring is unusable afterwards. */
  destroy(): void;
}

const BASE64_32_BYTES = /^[A-Za-z0-9+/]{43}=$/;
const ENTRY = /^v([1-9][0-9]{0,8}):(.*)$/s;
const VERSION = /^v?([1-9][0-9]{0,8})$/;
const HEX_64 = /^[0-9a-fA-F]{64}$/;

export function createKeyring(
  keys: ReadonlyMap<number, Buffer>,
  source: KeyringSource,
  active?: number,
): Keyring {
  const versions = [...keys.keys()].sort((a, b) => a - b);
  const activeVersion = active ?? versions.at(-1);
  if (activeVersion === undefined || !keys.has(activeVersion))
    throw new RangeError('active key version missing');
  const store = new Map<number, Buffer>();
  for (const [version, key] of keys) {
    if (key.length !== MASTER_KEY_LENGTH) throw new RangeError('master keys must be 32 bytes');
    const copy = Buffer.alloc(MASTER_KEY_LENGTH);
    key.copy(copy);
    store.set(version, copy);
  }
  return {
    source,
    activeVersion,
    versions,
    key: (version) => store.get(version),
    destroy() {
      for (const key of store.values()) key.fill(0);
      store.clear();
    },
  };
}

function parseVersion(variable: string, text: string): number {
  const match = VERSION.exec(text.trim());
  if (!match?.[1]) throw new KeyringConfigError(variable, 'must be a key version such as v2');
  return Number(match[1]);
}

/** Parses `v1:<base64>,v2:<base64>`. Each key must be canonical base64 of exactly 32 bytes. */
export function parseMasterKeys(
  value: string,
  activeValue?: string,
  variable = 'KEYHAVEN_MASTER_KEYS',
  source: KeyringSource = 'KEYHAVEN_MASTER_KEYS',
): Keyring {
  const entries = value
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0)
    throw new KeyringConfigError(variable, 'is empty; expected v1:<base64 of 32 bytes>');
  const keys = new Map<number, Buffer>();
  try {
    for (const [index, entry] of entries.entries()) {
      const position = `entry ${index + 1}`;
      const match = ENTRY.exec(entry);
      if (!match?.[1] || match[2] === undefined) {
        throw new KeyringConfigError(variable, `${position} is not of the form v<version>:<base64>`);
      }
      const version = Number(match[1]);
      if (keys.has(version))
        throw new KeyringConfigError(variable, `version v${version} appears more than once`);
      const encoded = match[2];
      const decoded = BASE64_32_BYTES.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
      if (!decoded || decoded.length !== MASTER_KEY_LENGTH || decoded.toString('base64') !== encoded) {
        decoded?.fill(0);
        throw new KeyringConfigError(
          variable,
          `key v${version} is not base64 of exactly 32 bytes (generate one with: keyhaven master-key generate)`,
        );
      }
      keys.set(version, decoded);
    }
    let active: number | undefined;
    if (activeValue !== undefined && activeValue.trim() !== '') {
      active = parseVersion('KEYHAVEN_ACTIVE_MASTER_KEY', activeValue);
      if (!keys.has(active)) {
        throw new KeyringConfigError(
          'KEYHAVEN_ACTIVE_MASTER_KEY',
          `names v${active}, which ${variable} does not hold`,
        );
      }
    }
    return createKeyring(keys, source, active);
  } finally {
    for (const key of keys.values()) key.fill(0);
  }
}

export function parseEncryptionKey(value: string): Keyring {
  const trimmed = value.trim();
  if (!HEX_64.test(trimmed))
    throw new KeyringConfigError('ENCRYPTION_KEY', 'must be exactly 64 hexadecimal characters');
  const key = Buffer.alloc(MASTER_KEY_LENGTH);
  key.write(trimmed, 'hex');
  try {
    return createKeyring(new Map([[1, key]]), 'ENCRYPTION_KEY');
  } finally {
    key.fill(0);
  }
}

export function generateMasterKey(): string {
  const key = randomBytes(MASTER_KEY_LENGTH);
  const encoded = key.toString('base64');
  key.fill(0);
  return encoded;
}

export interface LoadKeyringOptions {
  env: Record<string, string | undefined>;
  dataDir: string;
  /** True when running on the embedded database: only then may a key file be created. */
  embedded: boolean;
  warn?: (message: string) => void;
}

export function loadKeyring({ env, dataDir, embedded, warn = console.warn }: LoadKeyringOptions): Keyring {
  const masterKeys = env.KEYHAVEN_MASTER_KEYS?.trim();
  const encryptionKey = env.ENCRYPTION_KEY?.trim();
  if (masterKeys && encryptionKey) {
    throw new KeyringConfigError(
      'ENCRYPTION_KEY',
      'set either KEYHAVEN_MASTER_KEYS or ENCRYPTION_KEY, not both',
    );
  }
  if (masterKeys) return parseMasterKeys(masterKeys, env.KEYHAVEN_ACTIVE_MASTER_KEY);
  if (encryptionKey) {
    if (env.KEYHAVEN_ACTIVE_MASTER_KEY?.trim()) {
      throw new KeyringConfigError('KEYHAVEN_ACTIVE_MASTER_KEY', 'only applies with KEYHAVEN_MASTER_KEYS');
    }
    return parseEncryptionKey(encryptionKey);
  }
  if (!embedded) {
    throw new KeyringConfigError(
      'KEYHAVEN_MASTER_KEYS',
      'is required with DATABASE_URL; generate a key with `keyhaven master-key generate` and set KEYHAVEN_MASTER_KEYS=v1:<key>',
    );
  }
  return loadOrCreateKeyFile(dataDir, env.KEYHAVEN_ACTIVE_MASTER_KEY, warn);
}

function loadOrCreateKeyFile(
  dataDir: string,
  activeValue: string | undefined,
  warn: (message: string) => void,
) {
  const path = join(dataDir, KEY_FILE_NAME);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (!existsSync(path) && createKeyFile(path)) {
    warn(
      `keyhaven: generated a master key in ${path} (mode 0600). It protects every stored credential: ` +
        'back it up, and for production move it to a secret manager by setting KEYHAVEN_MASTER_KEYS to ' +
        "the file's content, then delete the file.",
    );
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    warn(`keyhaven: ${path} is readable by other users (mode ${mode.toString(8)}); run chmod 600 on it`);
  }
  const content = readFileSync(path, 'utf8');
  return parseMasterKeys(content, activeValue, `master key file ${path}`, 'key-file');
}

/**
 * Writes a new key to a private temporary file, then links it into place. link() fails with EEXIST when
 * another process got there first (that process's key wins and is read back), and the key file never
 * exists without its content: creating it with O_EXCL and writing afterwards let a concurrent start read
 * an empty file, and a failed write left an empty file that broke every later start.
 */
function createKeyFile(path: string): boolean {
  const temporary = `${path}.${randomBytes(8).toString('hex')}.tmp`;
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    try {
      writeSync(fd, `v1:${generateMasterKey()}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}
