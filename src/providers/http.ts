import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { redactSecrets } from '../crypto/index.ts';
import type { Credentials } from './spec.ts';
import {
  kindFromStatus,
  retryAfterFromHeaders,
  UpstreamError,
  type UpstreamErrorKind,
} from './upstream-error.ts';

/**
 * The HTTP plumbing adapters share: one request function that maps transport failures and error
 * statuses through the adapter's own mapper, redacts secrets from whatever comes back, and parses
 * Server-Sent Events incrementally (a stream is never buffered whole).
 */
export const MAX_ERROR_BODY = 4096;

export interface ErrorDetails {
  kind?: UpstreamErrorKind;
  message?: string;
  providerCode?: string;
  retryAfterMs?: number;
}

/** An adapter's one place for its provider's error JSON: what the body says, beyond the status. */
export type ErrorMapper = (status: number, body: unknown, headers: Headers) => ErrorDetails;

export interface HttpContext {
  provider: string;
  fetch: typeof fetch;
  baseURL: string;
  mapError: ErrorMapper;
  requestIdHeader?: string;
  now?: () => number;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
  /** Secrets to scrub from error messages and bodies. */
  secrets: readonly string[];
}

export function secretsOf(credentials: Credentials): string[] {
  return Object.values(credentials).map((value) => value.reveal());
}

export function joinURL(baseURL: string, path: string): string {
  return `${baseURL.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function upstreamErrorFrom(
  context: HttpContext,
  response: Response,
  secrets: readonly string[],
): Promise<UpstreamError> {
  // Redact before truncating: a secret cut in half by the limit would otherwise survive as a fragment.
  const text = await response.text().catch(() => '');
  const raw = redactSecrets(text.slice(0, MAX_ERROR_BODY * 4), secrets).slice(0, MAX_ERROR_BODY);
  const body = parseBody(raw);
  const details = context.mapError(response.status, body, response.headers);
  const message =
    details.message ?? (typeof body === 'string' && body ? body.slice(0, 300) : `HTTP ${response.status}`);
  return new UpstreamError({
    provider: context.provider,
    kind: details.kind ?? kindFromStatus(response.status),
    status: response.status,
    message: redactSecrets(message, secrets),
    retryAfterMs: details.retryAfterMs ?? retryAfterFromHeaders(response.headers, context.now?.()),
    ...(details.providerCode === undefined ? {} : { providerCode: details.providerCode }),
    ...(context.requestIdHeader && response.headers.get(context.requestIdHeader)
      ? { requestId: response.headers.get(context.requestIdHeader) ?? undefined }
      : {}),
    body: raw,
  });
}

/** Sends a request; a non-2xx answer or a transport failure becomes an UpstreamError. */
export async function send(context: HttpContext, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  let body: FormData | string | undefined;
  if (options.body instanceof FormData) body = options.body;
  else if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await context.fetch(joinURL(context.baseURL, options.path), {
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      ...(body === undefined ? {} : { body }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const timeout = error instanceof Error && /timeout/i.test(error.name + error.message);
    // Only the error's class travels: a transport message can carry the URL, and with it a secret.
    throw new UpstreamError({
      provider: context.provider,
      kind: timeout ? 'timeout' : 'unreachable',
      message: timeout ? 'the request timed out' : 'could not connect to the provider',
    });
  }
  if (!response.ok) throw await upstreamErrorFrom(context, response, options.secrets);
  return response;
}

export async function requestJson<T = unknown>(
  context: HttpContext,
  options: RequestOptions,
): Promise<{ data: T; response: Response }> {
  const response = await send(context, options);
  const text = await response.text();
  try {
    return { data: JSON.parse(text) as T, response };
  } catch {
    throw new UpstreamError({
      provider: context.provider,
      kind: 'invalid_response',
      status: response.status,
      message: 'the provider answered with something that is not JSON',
    });
  }
}

/**
 * Yields the events of an SSE body as they arrive. Memory is bounded by one event, however long the
 * stream runs. An error event (SSE `event: error`, or a JSON `error` member) is handed to onEvent,
 * which decides whether it ends the stream.
 */
export async function* sseEvents(
  response: Response,
  signal?: AbortSignal,
): AsyncGenerator<EventSourceMessage> {
  if (!response.body) return;
  const pending: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => pending.push(event) });
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
      while (pending.length > 0) {
        const event = pending.shift();
        if (event) yield event;
      }
    }
    parser.feed(decoder.decode());
    parser.reset({ consume: true });
    while (pending.length > 0) {
      const event = pending.shift();
      if (event) yield event;
    }
  } finally {
    reader.releaseLock();
    await response.body.cancel().catch(() => {});
  }
}

export function parseJsonEvent(provider: string, data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    throw new UpstreamError({
      provider,
      kind: 'invalid_response',
      message: 'the stream carried an event that is not JSON',
    });
  }
}
