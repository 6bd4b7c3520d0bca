import { ANTHROPIC_VERSION } from '../providers/anthropic/anthropic-adapter.ts';
import { mapGoogleError } from '../providers/google-gemini/google-gemini-errors.ts';

/**
 * What the gateway knows about each provider it fronts: the path it is mounted at, where the official
 * SDK puts its API key (where a user token is accepted), how the user's own credential is injected, and
 * how the provider says a key is refused.
 *
 * URLs: each SDK's base URL is replaced by `<keyhaven>/v1/<mount>` and the rest of the path it composes is
 * appended to the provider's base URL unchanged. OpenAI's base URL carries `/v1` (SDK default
 * `https://api.openai.com/v1`, adapter default the same, simulator `/openai/v1`), so the SDK sends
 * `/v1/openai/chat/completions` -> `<base>/chat/completions`. Anthropic (`/v1/messages`), Gemini
 * (`/v1beta/models/...`) and Mistral (`/v1/chat/completions`) put the version in the path, and their base
 * URLs are bare hosts (simulator: `/anthropic`, `/gemini`, `/mistral`).
 */
export type TokenLocation = 'authorization' | 'x-api-key' | 'x-goog-api-key';

export type UsageDialect = 'openai' | 'anthropic' | 'gemini' | 'mistral';

export interface GatewayProvider {
  /** The path segment after /v1/. */
  mount: string;
  /** The provider id in the registry and the vault. */
  provider: string;
  /** Where a client may put its Keyhaven token, in the order they are looked at. */
  tokenFrom: readonly TokenLocation[];
  usage: UsageDialect;
  /** The headers that carry the user's own credential (plaintext only here, at the point of injection). */
  inject(
    fields: Readonly<Record<string, string>>,
    incoming: Readonly<Record<string, unknown>>,
  ): Record<string, string>;
  /** True when an upstream answer says the stored key itself is refused (not a permission or a quota). */
  refusesKey(status: number, body: unknown): boolean;
}

function apiKey(fields: Readonly<Record<string, string>>): string {
  const key = fields.apiKey;
  // The credential schema requires apiKey; a row without one is corrupt, which is a bug, not user input.
  if (key === undefined) throw new Error('stored credential has no apiKey');
  return key;
}

export const GATEWAY_PROVIDERS: readonly GatewayProvider[] = [
  {
    mount: 'openai',
    provider: 'openai',
    tokenFrom: ['authorization'],
    usage: 'openai',
    inject(fields) {
      const headers: Record<string, string> = { authorization: `Bearer ${apiKey(fields)}` };
      if (fields.organization) headers['openai-organization'] = fields.organization;
      if (fields.project) headers['openai-project'] = fields.project;
      return headers;
    },
    refusesKey: (status) => status === 401,
  },
  {
    mount: 'anthropic',
    provider: 'anthropic',
    // The SDK sends apiKey as x-api-key, and authToken as a bearer token.
    tokenFrom: ['x-api-key', 'authorization'],
    usage: 'anthropic',
    inject(fields, incoming) {
      const headers: Record<string, string> = { 'x-api-key': apiKey(fields) };
      if (incoming['anthropic-version'] === undefined) headers['anthropic-version'] = ANTHROPIC_VERSION;
      return headers;
    },
    refusesKey: (status) => status === 401,
  },
  {
    mount: 'gemini',
    provider: 'google-gemini',
    tokenFrom: ['x-goog-api-key'],
    usage: 'gemini',
    inject: (fields) => ({ 'x-goog-api-key': apiKey(fields) }),
    // Google answers an invalid key with 400 API_KEY_INVALID: the reason says it, not the status.
    refusesKey: (status, body) =>
      status === 401 || (status === 400 && mapGoogleError(status, body).kind === 'authentication'),
  },
  {
    mount: 'mistral',
    provider: 'mistral',
    tokenFrom: ['authorization'],
    usage: 'mistral',
    inject: (fields) => ({ authorization: `Bearer ${apiKey(fields)}` }),
    refusesKey: (status) => status === 401,
  },
];
