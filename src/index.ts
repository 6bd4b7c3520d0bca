export { type Config, loadConfig } from './config.ts';
export {
  createLocalKms,
  DecryptionError,
  generateMasterKey,
  type Kms,
  loadKeyring,
  parseMasterKeys,
  SecretValue,
} from './crypto/index.ts';
export { ERROR_CODES, type ErrorCode, isKeyhavenError, KeyhavenError } from './errors.ts';
export { createKeyhaven, type Keyhaven, type KeyhavenOptions } from './keyhaven.ts';
export {
  builtInProviders,
  costOf,
  createPriceTable,
  createProviderRegistry,
  defineProvider,
  isUpstreamError,
  loadPriceTable,
  type ProviderAdapter,
  type ProviderDefinition,
  type ProviderInfo,
  providerDescription,
  providerDisplayName,
  providerIcon,
  supportedProviders,
  UpstreamError,
  type Usage,
} from './providers/index.ts';
export { createServices, type Services, type ServicesOptions } from './services.ts';
export { simulatorEnvironment, startProviderSimulator } from './simulator/index.ts';
export { openDatabase } from './store/index.ts';
export {
  type BudgetSettings,
  type BudgetView,
  eventsCsv,
  type SummaryGroupBy,
  type SummaryQuery,
  summarizeUsage,
  summaryCsv,
  type UsageRecord,
  type UsageSummary,
} from './usage/index.ts';
export {
  type CredentialSummary,
  createVault,
  type RevealedCredential,
  type ValidateCredential,
  type ValidationResult,
  type Vault,
} from './vault/index.ts';
export type { VideoJob } from './videos/index.ts';
export { KEYHAVEN_EVENT_TYPES, type KeyhavenEvent } from './webhooks/index.ts';
