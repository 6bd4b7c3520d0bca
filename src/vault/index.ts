export {
  type AuditAction,
  type AuditEvent,
  type AuditVerification,
  appendAuditEvents,
  listAuditEvents,
  verifyAuditLog,
} from './audit.ts';
export {
  type CacheInvalidation,
  createLocalInvalidation,
  createPostgresInvalidation,
  type InvalidationMessage,
} from './invalidation.ts';
export { maskSecret } from './mask.ts';
export {
  countDataKeysByKekVersion,
  type RewrapFailure,
  type RewrapResult,
  rewrapDataKeys,
} from './rewrap.ts';
export {
  type CredentialSummary,
  createVault,
  type RevealedCredential,
  type ValidateCredential,
  type ValidationResult,
  type Vault,
  type VaultDependencies,
} from './vault.ts';
