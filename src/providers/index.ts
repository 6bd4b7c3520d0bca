export { builtInProviders } from './builtin.ts';
export {
  type ProviderInfo,
  providerDescription,
  providerDisplayName,
  providerIcon,
  providerInfo,
  supportedProviders,
} from './catalog.ts';
export { type CredentialCatalog, type CredentialSpec, createCredentialCatalog } from './credentials.ts';
export { costOf, createPriceTable, loadPriceTable, type PriceTable } from './prices/index.ts';
export {
  baseURLVariable,
  createProviderRegistry,
  defineProvider,
  type ProviderRegistry,
  type ProviderRegistryOptions,
} from './registry.ts';
export type * from './spec.ts';
export { AVAILABLE, EMPTY_USAGE } from './spec.ts';
export { isUpstreamError, UpstreamError, type UpstreamErrorKind } from './upstream-error.ts';
