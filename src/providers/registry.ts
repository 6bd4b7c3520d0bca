import { SecretValue } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import type { CredentialCatalog, CredentialFields } from './credentials.ts';
import type {
  AdapterOptions,
  Credentials,
  ProviderAdapter,
  ProviderDefinition,
  ValidationResult,
} from './spec.ts';
import { isUpstreamError } from './upstream-error.ts';

/**
 * The provider registry: the built-in providers and any a deployment defines with defineProvider(), the
 * catalog the vault validates credentials against, and adapters built from a stored credential (read
 * from the vault when each request is made) or from raw credentials (to validate before storing).
 */
const PROVIDER_ID = /^[a-z][a-z0-9-]{1,39}$/;

/** Checks a provider definition (built-in or a user's plugin) and freezes it. */
export function defineProvider(definition: ProviderDefinition): ProviderDefinition {
  const problems: string[] = [];
  if (!PROVIDER_ID.test(definition.id)) problems.push('id must be 2-40 lower-case letters, digits or -');
  if (definition.credential.provider !== definition.id) problems.push('credential.provider must equal id');
  if (!definition.displayName.trim()) problems.push('displayName must not be empty');
  if (!/^<svg[\s>][\s\S]*<\/svg>\s*$/.test(definition.icon.trim()))
    problems.push('icon must be an inline <svg> element');
  if (!/^https?:\/\//.test(definition.defaultBaseURL)) problems.push('defaultBaseURL must be an http(s) URL');
  for (const field of definition.credentialFields) {
    if (field.secret !== definition.credential.secretFields.includes(field.name)) {
      problems.push(`credential field ${field.name}: secret must match credential.secretFields`);
    }
  }
  if (problems.length > 0) {
    throw new KeyhavenError('invalid_config', `provider ${definition.id}: ${problems.join('; ')}`);
  }
  return Object.freeze({ ...definition });
}

export function baseURLVariable(providerId: string): string {
  return `KEYHAVEN_${providerId.toUpperCase().replace(/-/g, '_')}_BASE_URL`;
}

export interface ProviderRegistryOptions {
  providers?: readonly ProviderDefinition[];
  env?: Readonly<Record<string, string | undefined>>;
  fetch?: typeof fetch;
}

export interface RevealSource {
  reveal(input: { userId: string; provider: string; purpose: string }): Promise<{ credentials: Credentials }>;
}

export function createProviderRegistry({
  providers = [],
  env = process.env,
  fetch: fetchImplementation = globalThis.fetch,
}: ProviderRegistryOptions = {}) {
  const byId = new Map<string, ProviderDefinition>();

  function register(definition: ProviderDefinition): void {
    const checked = defineProvider(definition);
    if (byId.has(checked.id))
      throw new KeyhavenError('conflict', `provider ${checked.id} is already registered`);
    byId.set(checked.id, checked);
  }
  for (const provider of providers) register(provider);

  function require(id: string): ProviderDefinition {
    const definition = byId.get(id);
    if (!definition) {
      throw new KeyhavenError('unknown_provider', `unknown provider ${JSON.stringify(id).slice(0, 60)}`, {
        details: { supported: [...byId.keys()] },
      });
    }
    return definition;
  }

  // The variable's name is worked out once per provider; its value is read on every call (it may change).
  const variables = new Map<string, string>();
  function baseURL(id: string): string {
    let variable = variables.get(id);
    if (variable === undefined) {
      variable = baseURLVariable(id);
      if (byId.has(id)) variables.set(id, variable);
    }
    const override = env[variable]?.trim();
    return override || require(id).defaultBaseURL;
  }

  function adapter(id: string, credentials: AdapterOptions['credentials']): ProviderAdapter {
    const definition = require(id);
    return definition.createAdapter({ baseURL: baseURL(id), fetch: fetchImplementation, credentials, env });
  }

  /** An adapter over credentials given directly. They are checked against the schema before any call. */
  function adapterFromCredentials(id: string, raw: Record<string, unknown>): ProviderAdapter {
    const definition = require(id);
    const parsed = definition.credential.schema.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        path: issue.path.join('.'),
        message: issue.message,
      }));
      throw new KeyhavenError(
        'invalid_request',
        `invalid credentials for ${id}: ${issues.map((issue) => `${issue.path || 'credentials'}: ${issue.message}`).join('; ')}`,
        { details: { issues } },
      );
    }
    const secrets = toSecrets(parsed.data);
    return adapter(id, () => secrets);
  }

  /** An adapter that reads the user's current credential from the vault each time it makes a request. */
  function adapterForUser(
    vault: RevealSource,
    userId: string,
    id: string,
    purpose = 'proxy',
  ): ProviderAdapter {
    return adapter(id, async () => (await vault.reveal({ userId, provider: id, purpose })).credentials);
  }

  /** The vault's validate function: the provider's cheapest authenticated call. */
  async function validate(id: string, credentials: Credentials): Promise<ValidationResult> {
    try {
      return await adapter(id, () => credentials).validate();
    } catch (error) {
      if (isUpstreamError(error)) {
        if (error.kind === 'rate_limited') {
          return error.retryAfterMs === undefined
            ? { status: 'rate_limited' }
            : { status: 'rate_limited', retryAfterMs: error.retryAfterMs };
        }
        if (error.kind === 'authentication' || error.kind === 'permission')
          return { status: 'invalid', reason: error.message };
      }
      return { status: 'unreachable' };
    }
  }

  const catalog: CredentialCatalog = {
    get: (id) => byId.get(id)?.credential,
    providers: () => [...byId.keys()],
  };

  return {
    register,
    get: (id: string) => byId.get(id),
    require,
    list: () => [...byId.values()],
    baseURL,
    adapter,
    adapterFromCredentials,
    adapterForUser,
    validate,
    catalog,
  };
}

export type ProviderRegistry = ReturnType<typeof createProviderRegistry>;

function toSecrets(fields: CredentialFields): Credentials {
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, new SecretValue(value)]));
}
