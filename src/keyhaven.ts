import { type Config, loadConfig } from './config.ts';
import { createLocalKms, type Keyring, type Kms, loadKeyring } from './crypto/index.ts';
import { type Database, openDatabase } from './store/index.ts';
import { createVault, type Vault, type VaultDependencies } from './vault/index.ts';

/**
 * The composition root: configuration -> database (PostgreSQL or embedded PGlite), keyring and KMS,
 * and the services built on them. Everything that runs Keyhaven (library, CLI, server) starts here.
 */
export interface KeyhavenOptions {
  config?: Config;
  validate?: VaultDependencies['validate'];
  warn?: (message: string) => void;
  kms?: Kms;
}

export interface Keyhaven {
  config: Config;
  database: Database;
  kms: Kms;
  vault: Vault;
  close(): Promise<void>;
}

export async function createKeyhaven({
  config = loadConfig(),
  validate,
  warn = (message) => process.stderr.write(`${message}\n`),
  kms: externalKms,
}: KeyhavenOptions = {}): Promise<Keyhaven> {
  const keyring: Keyring | undefined = externalKms
    ? undefined
    : loadKeyring({
        env: config.env,
        dataDir: config.dataDir,
        embedded: config.databaseUrl === undefined,
        warn,
      });
  const kms = externalKms ?? createLocalKms(keyring as Keyring);
  let database: Database;
  try {
    database = await openDatabase(
      config.databaseUrl
        ? { databaseUrl: config.databaseUrl, schema: config.databaseSchema }
        : { dataDir: config.dataDir },
    );
  } catch (error) {
    keyring?.destroy();
    throw error;
  }
  const vault = createVault({ db: database.db, kms, tenant: config.tenant, validate });
  return {
    config,
    database,
    kms,
    vault,
    async close() {
      await vault.close();
      await database.close();
      keyring?.destroy();
    },
  };
}
