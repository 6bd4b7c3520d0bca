import { type Config, loadConfig } from './config.ts';
import { createLocalKms, type Keyring, type Kms, loadKeyring } from './crypto/index.ts';
import { builtInProviders } from './providers/builtin.ts';
import { type ProviderInfo, providerInfo } from './providers/catalog.ts';
import { loadPriceTable, type PriceTable } from './providers/prices/index.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.ts';
import type { ProviderAdapter, ProviderDefinition, ValidationResult } from './providers/spec.ts';
import { createServices, type Services, type ServicesOptions } from './services.ts';
import { type Database, openDatabase } from './store/index.ts';
import {
  type CacheInvalidation,
  createPostgresInvalidation,
  createVault,
  type Vault,
} from './vault/index.ts';

/**
 * The composition root: configuration -> database (PostgreSQL or embedded PGlite), keyring and KMS,
 * the provider registry and price table, and the services built on them. Everything that runs Keyhaven
 * (library, CLI, server) starts here.
 */
export interface KeyhavenOptions {
  config?: Config;
  /** Your own providers (see defineProvider), added to the built-in ones. */
  providers?: readonly ProviderDefinition[];
  /** Replaces provider validation (tests, or a deployment that validates elsewhere). */
  validate?: (
    provider: string,
    credentials: Parameters<ProviderRegistry['validate']>[1],
  ) => Promise<ValidationResult>;
  warn?: (message: string) => void;
  kms?: Kms;
  fetch?: typeof fetch;
}

export interface Keyhaven {
  config: Config;
  database: Database;
  kms: Kms;
  vault: Vault;
  providers: ProviderRegistry;
  prices: PriceTable;
  /** Every provider, as plain data (no secrets). */
  catalog(): ProviderInfo[];
  /** An adapter that uses the user's stored credential, read from the vault at each request. */
  adapterFor(userId: string, provider: string, purpose?: string): ProviderAdapter;
  /** An adapter over credentials given directly (checked against the provider's schema first). */
  adapterFromCredentials(provider: string, credentials: Record<string, unknown>): ProviderAdapter;
  /**
   * Everything the HTTP API does beyond the vault, as a library: user tokens, webhooks, usage and
   * budgets, rate limits and video jobs. Created on first call (later options are ignored) and closed
   * with the Keyhaven; call `start()` on it to run the video and webhook workers in this process.
   * The HTTP server builds its own set (with its logger and metrics): use one or the other per process.
   */
  services(options?: ServicesOptions): Services;
  close(): Promise<void>;
}

export async function createKeyhaven({
  config = loadConfig(),
  providers = [],
  validate,
  warn = (message) => process.stderr.write(`${message}\n`),
  kms: externalKms,
  fetch: fetchImplementation,
}: KeyhavenOptions = {}): Promise<Keyhaven> {
  const registry = createProviderRegistry({
    providers: [...builtInProviders, ...providers],
    env: config.env,
    ...(fetchImplementation ? { fetch: fetchImplementation } : {}),
  });
  const prices = loadPriceTable(config.pricesFile);
  let keyring: Keyring | undefined;
  let kms: Kms;
  if (externalKms) kms = externalKms;
  else {
    keyring = loadKeyring({
      env: config.env,
      dataDir: config.dataDir,
      embedded: config.databaseUrl === undefined,
      warn,
    });
    kms = createLocalKms(keyring);
  }
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
  let invalidation: CacheInvalidation | undefined;
  try {
    invalidation = config.databaseUrl
      ? await createPostgresInvalidation({
          databaseUrl: config.databaseUrl,
          schema: config.databaseSchema,
          onError: (error) =>
            warn(
              `keyhaven: cache invalidation listener: ${error instanceof Error ? error.message : 'error'}`,
            ),
        })
      : undefined;
  } catch (error) {
    await database.close();
    keyring?.destroy();
    throw error;
  }
  const vault = createVault({
    db: database.db,
    ...(invalidation ? { invalidation } : {}),
    kms,
    tenant: config.tenant,
    catalog: registry.catalog,
    validate: validate ?? registry.validate,
  });
  let services: Services | undefined;
  const keyhaven: Keyhaven = {
    config,
    database,
    kms,
    vault,
    providers: registry,
    prices,
    catalog: () => registry.list().map(providerInfo),
    adapterFor: (userId, provider, purpose = 'proxy') =>
      registry.adapterForUser(vault, userId, provider, purpose),
    adapterFromCredentials: (provider, credentials) => registry.adapterFromCredentials(provider, credentials),
    services(options) {
      services ??= createServices(keyhaven, options);
      return services;
    },
    async close() {
      await services?.close();
      await vault.close();
      await invalidation?.close();
      await database.close();
      keyring?.destroy();
    },
  };
  return keyhaven;
}
