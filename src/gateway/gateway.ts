import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, type Dispatcher } from 'undici';
import { redactSecrets } from '../crypto/index.ts';
import { isKeyhavenError, KeyhavenError } from '../errors.ts';
import type { Keyhaven } from '../keyhaven.ts';
import type { BudgetReservation, Budgets } from '../usage/budgets.ts';
import type { UsageMeter, UsageRecord } from '../usage/meter.ts';
import type { EventSink } from '../webhooks/events.ts';
import type { CredentialCache } from './credential-cache.ts';
import {
  clientResponseHeaders,
  type HeaderValue,
  upstreamRequestHeaders,
  withoutKeyParameter,
} from './forward-headers.ts';
import type { GatewayProvider } from './gateway-providers.ts';
import type { ProviderRateLimiter } from './rate-limits.ts';
import { createUsageCapture } from './usage-capture.ts';

/**
 * The passthrough proxy: one client request -> the user's credential -> the provider, and the provider's
 * answer back, streamed with backpressure (the next upstream chunk is read only once the client has taken
 * the last one). Retries happen only while nothing has reached the client. Usage is captured on the way
 * and recorded once per call, including calls the client abandoned.
 */
export interface GatewayMetrics {
  upstreamError(provider: string, kind: string): void;
  rateLimited(provider: string, source: 'keyhaven' | 'upstream'): void;
}

export interface GatewayDependencies {
  keyhaven: Pick<Keyhaven, 'vault' | 'providers'>;
  credentials: CredentialCache;
  limiter: ProviderRateLimiter;
  usage: UsageMeter;
  /** Monthly budgets: a call that spends is reserved before it goes out and settled once it ends. */
  budgets?: Pick<Budgets, 'reserveCall' | 'settleCall'>;
  events: EventSink;
  metrics: GatewayMetrics;
  clock?: () => Date;
  agent?: Dispatcher;
  retries?: number;
  retryBaseDelayMs?: number;
}

/** Statuses that mean the provider did not take the request on: safe to send again. */
const RETRYABLE_STATUSES = new Set([502, 503, 529]);
/** Errors raised before a connection existed: the provider cannot have seen the request. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const MAX_ERROR_BODY_BYTES = 1024 * 1024;
const MAX_INSPECTED_REQUEST_BYTES = 16 * 1024 * 1024;
export const CREDENTIAL_HEADER = 'x-keyhaven-credential';

const processAgents = new Map<string, Agent>();

/**
 * One keep-alive pool per process and timeout setting, shared by every server in it (tests run several).
 * `headersMs` bounds the wait for the response headers, `idleMs` the silence between two body chunks.
 */
export function sharedAgent({ headersMs = 300_000, idleMs = 300_000 } = {}): Agent {
  const key = `${headersMs}:${idleMs}`;
  let agent = processAgents.get(key);
  if (!agent) {
    agent = new Agent({
      keepAliveTimeout: 10_000,
      connections: 128,
      headersTimeout: headersMs,
      bodyTimeout: idleMs,
    });
    processAgents.set(key, agent);
  }
  return agent;
}

/** The first error code on the error or its causes (undici wraps socket errors). */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A metrics label for a failed call: a fixed set, never error text. */
function failureKind(code: string | undefined): string {
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') return 'timeout';
  if (code !== undefined && CONNECT_ERRORS.has(code)) return 'connect';
  return 'network';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function headerText(value: HeaderValue | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

interface Target {
  origin: string;
  path: string;
  /** The path without the query, for matching endpoints. */
  pathname: string;
}

/** The provider URL for a gateway URL: the remainder after /v1/<mount>, appended to the base URL. */
export function upstreamTarget(baseURL: string, mount: string, rawURL: string): Target {
  const prefix = `/v1/${mount}`;
  if (!rawURL.startsWith(prefix)) throw new KeyhavenError('not_found', 'no such route');
  const remainder = rawURL.slice(prefix.length);
  const queryStart = remainder.indexOf('?');
  const path = queryStart === -1 ? remainder : remainder.slice(0, queryStart);
  const query = queryStart === -1 ? '' : remainder.slice(queryStart);
  const segments = path.split('/');
  if (segments.some((segment) => /^(\.|%2e){1,2}$/i.test(segment)) || /%2f|%5c|\\/i.test(path)) {
    throw new KeyhavenError('invalid_request', 'the path must not contain dot segments or encoded slashes');
  }
  const { origin, basePath } = parsedBase(baseURL);
  const pathname = `${basePath}${path}` || '/';
  return { origin, path: `${pathname}${withoutKeyParameter(query)}`, pathname: path };
}

/** Base URLs are few (one per provider and override): each is parsed once, not on every call. */
const parsedBases = new Map<string, { origin: string; basePath: string }>();
function parsedBase(baseURL: string): { origin: string; basePath: string } {
  let parsed = parsedBases.get(baseURL);
  if (!parsed) {
    const base = new URL(baseURL);
    parsed = { origin: base.origin, basePath: base.pathname.replace(/\/+$/, '') };
    if (parsedBases.size >= 64) parsedBases.clear();
    parsedBases.set(baseURL, parsed);
  }
  return parsed;
}

interface PreparedBody {
  body: Buffer | undefined;
  requestModel: string | undefined;
  /** The request as JSON, when it is a JSON object (for the budget's estimate). */
  json: Record<string, unknown> | undefined;
  /** The gateway asked for OpenAI stream usage the client did not want: hide it again. */
  hideUsage: boolean;
}

/** Whether the first byte after leading JSON whitespace is `{`. */
function startsWithBrace(body: Buffer): boolean {
  for (let index = 0; index < body.length; index += 1) {
    const byte = body[index];
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return byte === 0x7b;
  }
  return false;
}

/**
 * Reads what the gateway needs from the request body (the model) and, only for an OpenAI chat stream
 * without include_usage, rewrites it to ask for usage. Every other body goes out byte for byte.
 */
function prepareBody(
  route: GatewayProvider,
  method: string,
  pathname: string,
  raw: Buffer | undefined,
): PreparedBody {
  const modelFromPath = /\/models\/([^/:]+)(?::|$)/.exec(pathname)?.[1];
  const prepared: PreparedBody = {
    body: raw && raw.length > 0 ? raw : undefined,
    requestModel: modelFromPath ? decodeURIComponent(modelFromPath) : undefined,
    json: undefined,
    hideUsage: false,
  };
  if (!prepared.body || prepared.body.length > MAX_INSPECTED_REQUEST_BYTES) return prepared;
  if (!startsWithBrace(prepared.body)) return prepared; // not a JSON object
  let json: unknown;
  try {
    json = JSON.parse(prepared.body.toString('utf8'));
  } catch {
    return prepared;
  }
  if (!isObject(json)) return prepared;
  prepared.json = json;
  if (typeof json.model === 'string') prepared.requestModel = json.model;
  const streamOptions = isObject(json.stream_options) ? json.stream_options : undefined;
  if (
    route.usage === 'openai' &&
    method === 'POST' &&
    /\/chat\/completions$/.test(pathname) &&
    json.stream === true &&
    streamOptions?.include_usage !== true
  ) {
    prepared.body = Buffer.from(
      JSON.stringify({ ...json, stream_options: { ...streamOptions, include_usage: true } }),
      'utf8',
    );
    prepared.hideUsage = true;
  }
  return prepared;
}

/** Resolves when the response can take more, or has closed. */
function drained(response: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

export function createGateway({
  keyhaven,
  credentials,
  limiter,
  usage,
  budgets,
  events,
  metrics,
  clock = () => new Date(),
  agent = sharedAgent(),
  retries = 2,
  retryBaseDelayMs = 100,
}: GatewayDependencies) {
  const { vault, providers } = keyhaven;
  // One status change per credential at a time, so concurrent refusals announce it once.
  const marking = new Set<string>();

  async function credentialFor(userId: string, route: GatewayProvider) {
    try {
      return await credentials.get(userId, route.provider);
    } catch (error) {
      if (isKeyhavenError(error, 'not_found')) {
        const name = providers.get(route.provider)?.displayName ?? route.provider;
        throw new KeyhavenError(
          'credential_missing',
          `no ${name} credential is connected for this user: store one for provider ${route.provider} first`,
          { details: { provider: route.provider } },
        );
      }
      throw error;
    }
  }

  async function checkRateLimit(request: FastifyRequest, userId: string, provider: string) {
    let decision: Awaited<ReturnType<ProviderRateLimiter['consume']>>;
    try {
      decision = await limiter.consume(userId, provider);
    } catch (error) {
      // The limit store is down: serving without a limit beats refusing every call.
      request.log.warn({ err: error, provider }, 'rate limit store unavailable; request not limited');
      return;
    }
    if (decision.allowed) return;
    metrics.rateLimited(provider, 'keyhaven');
    throw new KeyhavenError(
      'rate_limited',
      `rate limit reached: at most ${decision.limit} ${provider} requests per ${decision.window} for this user`,
      {
        retryAfterMs: decision.retryAfterMs,
        details: { provider, window: decision.window, limit: decision.limit },
      },
    );
  }

  /** The provider refused the stored key: mark that version invalid and tell the application, once. */
  async function refused(
    request: FastifyRequest,
    userId: string,
    route: GatewayProvider,
    credential: { credentialId: string; version: number },
    status: number,
  ) {
    credentials.forget(userId, route.provider);
    const key = `${userId}|${credential.credentialId}`;
    if (marking.has(key)) return;
    marking.add(key);
    try {
      const before = await vault.get({ userId, provider: route.provider });
      if (before.credentialId !== credential.credentialId || before.status === 'invalid') return;
      const reason = `the provider refused the key (HTTP ${status})`;
      const after = await vault.markInvalid({
        userId,
        provider: route.provider,
        credentialId: credential.credentialId,
        reason,
        actor: 'gateway',
      });
      if (after.credentialId !== credential.credentialId || after.status !== 'invalid') return;
      await events.emit({
        type: 'credential.invalid',
        userId,
        data: { provider: route.provider, version: credential.version, reason },
      });
    } catch (error) {
      request.log.warn({ err: error, provider: route.provider }, 'could not record a refused credential');
    } finally {
      marking.delete(key);
    }
  }

  /**
   * Sends the request, again after a short jittered wait when the provider could not be reached or
   * answered 502/503/529, as long as nothing has gone to the client (nothing has, until this returns).
   */
  async function send(
    route: GatewayProvider,
    options: Dispatcher.RequestOptions,
    signal: AbortSignal,
    log: FastifyRequest['log'],
  ): Promise<Dispatcher.ResponseData> {
    for (let attempt = 0; ; attempt += 1) {
      const last = attempt >= retries;
      let response: Dispatcher.ResponseData;
      try {
        response = await agent.request({ ...options, signal });
      } catch (error) {
        if (signal.aborted) throw error;
        const code = errorCode(error);
        metrics.upstreamError(route.provider, failureKind(code));
        // Only a connection that never opened is safe to try again: the provider cannot have seen it.
        if (code === undefined || !CONNECT_ERRORS.has(code) || last) {
          log.warn({ provider: route.provider, code, attempts: attempt + 1 }, 'provider unreachable');
          const name = providers.get(route.provider)?.displayName ?? route.provider;
          throw new KeyhavenError('provider_unavailable', `${name} could not be reached; try again later`, {
            details: { provider: route.provider },
          });
        }
        await delay(backoff(attempt), undefined, { signal });
        continue;
      }
      if (response.statusCode >= 500 || response.statusCode === 429) {
        metrics.upstreamError(route.provider, String(response.statusCode));
      }
      if (!RETRYABLE_STATUSES.has(response.statusCode) || last) return response;
      await response.body.dump();
      await delay(backoff(attempt), undefined, { signal });
    }
  }

  function backoff(attempt: number): number {
    return retryBaseDelayMs * 2 ** attempt * (0.5 + Math.random());
  }

  function secretValues(route: GatewayProvider, fields: Readonly<Record<string, string>>): string[] {
    const secretFields = providers.get(route.provider)?.credential.secretFields ?? Object.keys(fields);
    return secretFields.flatMap((name) => (fields[name] ? [fields[name]] : []));
  }

  /** A call's budget reservation, settled exactly once: by its usage record, or released if none came. */
  interface Spending {
    reservation: BudgetReservation | undefined;
    settled: boolean;
  }

  function settle(spending: Spending, record: UsageRecord | undefined): void {
    if (!budgets || !spending.reservation || spending.settled) return;
    spending.settled = true;
    budgets.settleCall(spending.reservation, record);
  }

  async function proxy(request: FastifyRequest, reply: FastifyReply, route: GatewayProvider, userId: string) {
    const spending: Spending = { reservation: undefined, settled: false };
    try {
      await forward(request, reply, route, userId, spending);
    } finally {
      settle(spending, undefined);
    }
  }

  async function forward(
    request: FastifyRequest,
    reply: FastifyReply,
    route: GatewayProvider,
    userId: string,
    spending: Spending,
  ) {
    const started = performance.now();
    const credential = await credentialFor(userId, route);
    reply.header(CREDENTIAL_HEADER, `${route.provider}:${credential.version}`);
    await checkRateLimit(request, userId, route.provider);

    const target = upstreamTarget(providers.baseURL(route.provider), route.mount, request.raw.url ?? '');
    const prepared = prepareBody(
      route,
      request.method,
      target.pathname,
      Buffer.isBuffer(request.body) ? request.body : undefined,
    );
    // Refused here (402) when a hard budget cannot hold the call: before anything goes upstream.
    spending.reservation = await budgets?.reserveCall({
      userId,
      provider: route.provider,
      method: request.method,
      path: target.pathname,
      model: prepared.requestModel,
      body: prepared.json,
      bodyBytes: prepared.body?.length ?? 0,
    });
    const headers = upstreamRequestHeaders(request.headers, route.inject(credential.fields, request.headers));

    // The client going away aborts the upstream call, whatever stage it is in.
    const controller = new AbortController();
    const raw = reply.raw;
    const onClose = () => {
      if (!raw.writableFinished) controller.abort();
    };
    raw.once('close', onClose);

    let recorded = false;
    // The provider's answer headers, once there is an answer: their rate-limit headroom is noted with the
    // usage, after the response has gone (it is not on the client's path).
    let answered: Dispatcher.ResponseData['headers'] | undefined;
    const noteHeadroom = () => {
      if (!answered) return;
      // The provider's own rate-limit headroom for this credential (GET /v1/users/:userId/usage/rate-limits).
      usage.observeRateLimits?.({
        userId,
        provider: route.provider,
        credentialVersion: credential.version,
        headers: answered,
      });
      answered = undefined;
    };
    const record = (
      status: number,
      captured: ReturnType<ReturnType<typeof createUsageCapture>['result']>,
      aborted: boolean,
    ) => {
      if (recorded) return;
      recorded = true;
      noteHeadroom();
      const usageRecord: UsageRecord = {
        userId,
        provider: route.provider,
        model: captured.model,
        credentialVersion: credential.version,
        requestId: request.id,
        route: 'passthrough',
        ...captured.usage,
        status,
        latencyMs: Math.round(performance.now() - started),
        ...(aborted ? { aborted: true } : {}),
        occurredAt: clock(),
      };
      usage.record(usageRecord);
      settle(spending, usageRecord);
    };

    let upstream: Dispatcher.ResponseData;
    try {
      upstream = await send(
        route,
        {
          origin: target.origin,
          path: target.path,
          method: request.method as Dispatcher.HttpMethod,
          headers,
          body: prepared.body ?? null,
        },
        controller.signal,
        request.log,
      );
    } catch (error) {
      if (controller.signal.aborted) {
        // Nobody is listening any more; the provider may still bill what it started.
        record(
          0,
          createUsageCapture({
            dialect: route.usage,
            contentType: undefined,
            requestModel: prepared.requestModel,
          }).result(),
          true,
        );
        reply.hijack();
        raw.destroy();
        return;
      }
      raw.off('close', onClose);
      throw error;
    }

    const status = upstream.statusCode;
    if (status === 429) metrics.rateLimited(route.provider, 'upstream');
    answered = upstream.headers;
    const contentType = headerText(upstream.headers['content-type']);
    const capture = createUsageCapture({
      dialect: route.usage,
      contentType,
      requestModel: prepared.requestModel,
      hideUsage: prepared.hideUsage && status === 200,
    });

    // Error bodies are small and read whole: to tell a refused key from other errors, and because some
    // providers echo the key they were sent (Google names a suspended consumer's key), which is redacted.
    let errorBody: Buffer | undefined;
    if (status >= 400) {
      try {
        const parts: Buffer[] = [];
        let size = 0;
        for await (const chunk of upstream.body) {
          size += (chunk as Buffer).length;
          if (size > MAX_ERROR_BODY_BYTES) throw new Error('error body too large');
          parts.push(chunk as Buffer);
        }
        errorBody = Buffer.concat(parts);
      } catch (error) {
        if (controller.signal.aborted) {
          record(status, capture.result(), true);
          reply.hijack();
          return;
        }
        raw.off('close', onClose);
        noteHeadroom();
        metrics.upstreamError(route.provider, 'body');
        request.log.warn({ err: error, provider: route.provider }, 'upstream error body could not be read');
        throw new KeyhavenError('provider_unavailable', 'the provider answer could not be read', {
          details: { provider: route.provider },
        });
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(errorBody.toString('utf8'));
      } catch {
        parsed = undefined;
      }
      if (route.refusesKey(status, parsed)) await refused(request, userId, route, credential, status);
      const text = errorBody.toString('utf8');
      const redacted = redactSecrets(text, secretValues(route, credential.fields));
      if (redacted !== text) errorBody = Buffer.from(redacted, 'utf8');
    }

    reply.hijack();
    const responseHeaders = clientResponseHeaders(upstream.headers, {
      dropContentLength: capture.rewrites || errorBody !== undefined,
    });
    if (errorBody) responseHeaders['content-length'] = String(errorBody.length);
    const own = reply.getHeaders();
    for (const name in own) {
      const value = own[name];
      if (value !== undefined) responseHeaders[name] = Array.isArray(value) ? value : String(value);
    }
    if (raw.destroyed) {
      upstream.body.destroy();
      record(status, capture.result(), true);
      return;
    }
    // The head, the body and its end leave in one write when they come together (a whole JSON answer,
    // as a rule): the socket is corked until this turn of the event loop is over. Whatever comes later
    // (a stream's events) goes out as it comes.
    raw.cork();
    setImmediate(() => raw.uncork());
    raw.writeHead(status, responseHeaders);
    // A stream's headers go now (at the uncork), so the client has them before the first event.
    if (responseHeaders['content-length'] === undefined) raw.flushHeaders();

    if (errorBody) {
      capture.push(errorBody);
      capture.end();
      raw.end(errorBody);
      record(status, capture.result(), false);
      return;
    }

    let brokeOff = false;
    try {
      for await (const chunk of upstream.body) {
        // A chunk is counted as delivered only when it is handed to a live connection.
        if (raw.destroyed) break;
        const out = capture.push(chunk as Buffer);
        if (out.length > 0 && !raw.write(out)) await drained(raw);
      }
      if (!raw.destroyed) {
        // A rewritten stream may hold a last part back; a body that is only read (a whole JSON answer,
        // parsed for its usage) is read once it has gone, not while the client waits for its end.
        const tail = capture.rewrites ? capture.end() : undefined;
        if (tail && tail.length > 0) raw.write(tail);
        raw.end();
        if (!tail) capture.end();
      }
    } catch (error) {
      if (!controller.signal.aborted) {
        // The provider broke off mid-body: the client must see a broken response, not a short success.
        brokeOff = true;
        metrics.upstreamError(route.provider, 'stream');
        request.log.warn({ err: error, provider: route.provider }, 'upstream response broke off');
        raw.destroy();
      }
    } finally {
      upstream.body.destroy();
      raw.off('close', onClose);
    }
    // The client left before the whole answer was handed over (not the provider breaking off).
    const aborted = !brokeOff && (controller.signal.aborted || !raw.writableEnded);
    record(status, capture.result(), aborted);
  }

  return { proxy };
}

export type Gateway = ReturnType<typeof createGateway>;
