/**
 * The admin API as the dashboard uses it: same origin, the admin token from sessionStorage (gone when
 * the tab closes), errors with the server's code and message.
 */
const TOKEN_KEY = 'keyhaven.adminToken';

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

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

export async function api<T>(token: string, path: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      headers: { authorization: `Bearer ${token}` },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, 'network', 'The Keyhaven server could not be reached.');
  }
  const body = (await response.json().catch(() => null)) as
    | (T & { error?: { code?: string; message?: string } })
    | null;
  if (!response.ok || body === null) {
    throw new ApiError(
      response.status,
      body?.error?.code ?? 'unknown',
      body?.error?.message ?? `The server answered ${response.status}.`,
    );
  }
  return body;
}

export interface Overview {
  users: number;
  activeTokens: number;
  credentials: {
    total: number;
    valid: number;
    invalid: number;
    unverified: number;
    byProvider: { provider: string; total: number; valid: number; invalid: number; unverified: number }[];
  };
  month: { from: string; to: string; requests: number; costUsd: number; unpricedRequests: number };
  videos: Record<'queued' | 'running' | 'succeeded' | 'failed' | 'canceled', number>;
  webhookDeliveries: Record<'pending' | 'succeeded' | 'failed', number>;
}

export interface DailyRow {
  day: string;
  provider: string;
  model: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  videoSeconds: number;
  images: number;
  costUsd: number;
  unpricedRequests: number;
}

export interface UserRow {
  userId: string;
  credentials: number;
  invalidCredentials: number;
  videos: number;
  monthRequests: number;
  monthCostUsd: number;
  lastActivityAt: string | null;
}

export interface CredentialSummary {
  provider: string;
  connected: boolean;
  status: 'valid' | 'invalid' | 'unverified' | null;
  statusReason: string | null;
  maskedKey: string | null;
  version: number | null;
  updatedAt: string | null;
  lastValidatedAt: string | null;
  lastUsedAt: string | null;
}

export interface VideoAttempt {
  provider: string;
  model: string;
  credentialVersion: number;
  status: string;
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: string;
  endedAt: string | null;
}

export interface VideoJob {
  id: string;
  userId: string;
  status: string;
  provider: string;
  model: string;
  prompt: string;
  durationSeconds: number;
  resolution: string;
  progress: number | null;
  error: { code: string; message: string } | null;
  attempts: VideoAttempt[];
  estimatedCost: number | null;
  createdAt: string;
  completedAt: string | null;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string | null;
  url: string | null;
  eventId: string;
  eventType: string;
  userId: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
}

export interface AuditEvent {
  seq: string;
  occurredAt: string;
  action: string;
  actor: string;
  userId: string | null;
  provider: string | null;
  credentialId: string | null;
  purpose: string | null;
  hash: string;
}

export type AuditVerification =
  | { ok: true; count: number; headSeq: string | null; headHash: string }
  | { ok: false; count: number; brokenSeq: string; reason: string };

export interface UsageSummary {
  totals: { requests: number; costUsd: number; inputTokens: number; outputTokens: number };
  groups: { key: string; provider?: string; requests: number; costUsd: number }[];
}
