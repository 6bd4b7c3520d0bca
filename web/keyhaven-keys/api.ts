/**
 * The few Keyhaven routes the component uses, called with the user's token. Errors keep the server's
 * code and message (for a refused key, the provider's reason) so the component can show them.
 */
export interface CredentialField {
  name: string;
  label: string;
  secret: boolean;
  optional: boolean;
  description?: string;
}

export interface ProviderInfo {
  id: string;
  displayName: string;
  description: string;
  icon: string;
  credentialFields: readonly CredentialField[];
  status: { state: 'available' } | { state: 'retired'; date: string; reason: string };
}

export type CredentialStatus = 'valid' | 'invalid' | 'unverified';

export interface CredentialSummary {
  provider: string;
  connected: boolean;
  status: CredentialStatus | null;
  statusReason: string | null;
  maskedKey: string | null;
  version: number | null;
  updatedAt: string | null;
  lastValidatedAt: string | null;
  lastUsedAt: string | null;
}

export type TestResult =
  | { status: 'valid' }
  | { status: 'invalid'; reason: string }
  | { status: 'unreachable'; reason?: string }
  | { status: 'rate_limited'; retryAfterMs?: number };

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export interface KeyhavenClient {
  providers(): Promise<ProviderInfo[]>;
  credentials(): Promise<CredentialSummary[]>;
  store(provider: string, credentials: Record<string, string>): Promise<CredentialSummary>;
  test(provider: string): Promise<{ result: TestResult; summary: CredentialSummary }>;
  remove(provider: string): Promise<void>;
}

export function createClient({
  baseUrl,
  userId,
  token,
}: {
  baseUrl: string;
  userId: string;
  token: string;
}): KeyhavenClient {
  const root = baseUrl.replace(/\/+$/, '');
  const user = `${root}/v1/users/${encodeURIComponent(userId)}`;

  async function call<T>(url: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
    let response: Response;
    try {
      response = await fetch(url, {
        method: init.method ?? 'GET',
        headers: {
          authorization: `Bearer ${token}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, 'network', 'Keyhaven could not be reached. Check your connection and try again.');
    }
    if (response.status === 204) return undefined as T;
    const body = (await response.json().catch(() => null)) as {
      error?: { code?: string; message?: string };
    } | null;
    if (!response.ok) {
      throw new ApiError(
        response.status,
        body?.error?.code ?? 'unknown',
        body?.error?.message ?? `Keyhaven answered ${response.status}.`,
      );
    }
    return body as T;
  }

  return {
    async providers() {
      return (await call<{ providers: ProviderInfo[] }>(`${root}/v1/providers`)).providers;
    },
    async credentials() {
      return (await call<{ credentials: CredentialSummary[] }>(`${user}/credentials`)).credentials;
    },
    store(provider, credentials) {
      return call<CredentialSummary>(`${user}/credentials/${encodeURIComponent(provider)}`, {
        method: 'PUT',
        body: { credentials, validate: true },
      });
    },
    test(provider) {
      return call(`${user}/credentials/${encodeURIComponent(provider)}/test`, { method: 'POST' });
    },
    remove(provider) {
      return call<void>(`${user}/credentials/${encodeURIComponent(provider)}`, { method: 'DELETE' });
    },
  };
}
