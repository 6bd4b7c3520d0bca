export { type CachedCredential, type CredentialCache, createCredentialCache } from './credential-cache.ts';
export {
  CREDENTIAL_HEADER,
  createGateway,
  type Gateway,
  type GatewayDependencies,
  sharedAgent,
} from './gateway.ts';
export { GATEWAY_PROVIDERS, type GatewayProvider, type TokenLocation } from './gateway-providers.ts';
export { type ConfiguredLimiter, limiterFromConfig, limitsFor } from './limiter-from-config.ts';
export {
  createRateLimiter,
  type ProviderRateLimiter,
  type RateLimitDecision,
  type RateLimitStore,
} from './rate-limits.ts';
export { type CapturedUsage, createUsageCapture, type UsageCapture } from './usage-capture.ts';
