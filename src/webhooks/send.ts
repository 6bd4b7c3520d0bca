import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { assertPublicUrl, isPublicAddress } from '../net/public-url.ts';

/**
 * One HTTP attempt of a webhook delivery. The URL is checked again before every attempt (its host may
 * resolve elsewhere by now), and the default transport checks the address it actually connects to, so a
 * host that flips to a private address between the check and the connection is refused too (DNS
 * rebinding). Redirects are never followed: a 3xx is a failed attempt.
 */
export type SendOutcome =
  | { ok: true; status: number }
  | {
      ok: false;
      /** The receiver's status, when it answered. */
      status?: number;
      /** A short description for the delivery log; never a URL (query strings can hold tokens). */
      error: string;
      retryAfterMs?: number;
      /** The receiver said the endpoint is gone (410). */
      gone?: boolean;
    };

export type WebhookFetch = (
  url: string,
  init: {
    method: 'POST';
    headers: Record<string, string>;
    body: string;
    redirect: 'manual';
    signal: AbortSignal;
  },
) => Promise<{ status: number; headers: { get(name: string): string | null }; body?: unknown }>;

/** A lookup that fails for any host resolving to a loopback, private or otherwise non-public address. */
export function publicOnlyLookup(): LookupFunction {
  return ((hostname: string, options: object, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      if (addresses.length === 0 || !addresses.every((entry) => isPublicAddress(entry.address))) {
        const refused = Object.assign(new Error('host resolves to a non-public address'), {
          code: 'KEYHAVEN_PRIVATE_ADDRESS',
        });
        return callback(refused);
      }
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      const first = addresses[0] as LookupAddress;
      return callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}

/** The transport deliveries use by default: undici with keep-alive, guarded lookups unless allowed. */
export function createWebhookTransport({ allowPrivate }: { allowPrivate: boolean }): {
  fetch: WebhookFetch;
  close(): Promise<void>;
} {
  const agent = new Agent({
    keepAliveTimeout: 10_000,
    connections: 32,
    ...(allowPrivate ? {} : { connect: { lookup: publicOnlyLookup() } }),
  });
  return {
    fetch: (url, init) => undiciFetch(url, { ...init, dispatcher: agent }),
    close: () => agent.close(),
  };
}

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) current = errors[0];
    else current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describeFailure(error: unknown, timeoutMs: number, timedOut: boolean): string {
  if (timedOut) return `timed out after ${timeoutMs} ms`;
  const code = causeCode(error);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset by the receiver';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host does not resolve';
    case 'KEYHAVEN_PRIVATE_ADDRESS':
      return 'refused: the host resolves to a loopback or private address';
    case undefined:
      return 'the request failed';
    default:
      return /^[A-Z0-9_]{2,40}$/.test(code) ? `the request failed (${code})` : 'the request failed';
  }
}

function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (!value) return undefined;
  if (/^[0-9]{1,7}$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}

export async function sendWebhook({
  url,
  headers,
  body,
  fetch,
  timeoutMs,
  allowPrivate,
  clock = () => new Date(),
}: {
  url: string;
  headers: Record<string, string>;
  body: string;
  fetch: WebhookFetch;
  timeoutMs: number;
  allowPrivate: boolean;
  clock?: () => Date;
}): Promise<SendOutcome> {
  try {
    await assertPublicUrl(url, 'url', { allowPrivate });
  } catch {
    return { ok: false, error: 'refused: the URL is not a public http(s) address' };
  }
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: controller.signal,
    });
    // Only the status matters; drop the body without reading it (a receiver could send gigabytes).
    const responseBody = response.body as { cancel?: () => Promise<void> } | null | undefined;
    await responseBody?.cancel?.().catch(() => {});
    const status = response.status;
    if (status >= 200 && status < 300) return { ok: true, status };
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), clock());
    const error =
      status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
    return {
      ok: false,
      status,
      error,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(status === 410 ? { gone: true } : {}),
    };
  } catch (error) {
    return { ok: false, error: describeFailure(error, timeoutMs, timedOut) };
  } finally {
    clearTimeout(timer);
  }
}
