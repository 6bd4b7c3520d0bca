import { builtInProviders } from './builtin.ts';
import type { CredentialFieldInfo, ProviderDefinition } from './spec.ts';

/**
 * The catalog as plain data, for settings pages and the API: what each provider is, the credential
 * fields it asks for, what it can do and whether it is retired. Never holds anything secret.
 */
export interface ProviderInfo {
  id: string;
  displayName: string;
  description: string;
  icon: string;
  credentialFields: readonly CredentialFieldInfo[];
  capabilities: ProviderDefinition['capabilities'];
  defaultRateLimits: ProviderDefinition['defaultRateLimits'];
  status: ProviderDefinition['status'];
  models: { id: string; kind: string; priced: boolean }[];
}

export function providerInfo(definition: ProviderDefinition): ProviderInfo {
  return {
    id: definition.id,
    displayName: definition.displayName,
    description: definition.description,
    icon: definition.icon,
    credentialFields: definition.credentialFields,
    capabilities: definition.capabilities,
    defaultRateLimits: definition.defaultRateLimits,
    status: definition.status,
    models: definition.models.map((model) => ({
      id: model.id,
      kind: model.kind,
      priced: model.price !== undefined,
    })),
  };
}

const byId = new Map(builtInProviders.map((definition) => [definition.id, definition]));

/** The ids of the built-in providers. */
export function supportedProviders(): string[] {
  return [...byId.keys()];
}

export function providerDisplayName(id: string): string | undefined {
  return byId.get(id)?.displayName;
}

export function providerDescription(id: string): string | undefined {
  return byId.get(id)?.description;
}

export function providerIcon(id: string): string | undefined {
  return byId.get(id)?.icon;
}
