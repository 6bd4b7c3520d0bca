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
  builtInCredentialSpecs,
  type CredentialSpec,
  createCredentialCatalog,
} from './providers/credentials.ts';
export { openDatabase } from './store/index.ts';
export {
  type CredentialSummary,
  createVault,
  type RevealedCredential,
  type ValidateCredential,
  type ValidationResult,
  type Vault,
} from './vault/index.ts';
