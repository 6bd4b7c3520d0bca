import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { z } from 'zod';
import { createFaultStore, type Fault, faultSchema } from './faults.ts';
import { createJobStore } from './jobs.ts';
import type { ProviderSimulation, Route, RouteContext, SimulatedError } from './types.ts';

/**
 * The provider simulator: one HTTP server answering at every provider's real paths, each provider under
 * its own prefix (OpenAI, Anthropic and Mistral all have /v1/models), with their wire formats, keys,
 * errors, streams and jobs, and fault injection. A control API under /__simulator configures it.
 */
export interface SimulatorOptions {
  providers: readonly ProviderSimulation[];
  port?: number;
  host?: string;
  /** Extra accepted keys per provider, beside each provider's default keys. */
  keys?: Readonly<Record<string, readonly string[]>>;
  log?: (line: string) => void;
}

export interface Simulator {
  url: string;
  /** The base URL an SDK or adapter for this provider should use. */
  baseURL(provider: string): string;
  addKey(provider: string, key: string): void;
  removeKey(provider: string, key: string): void;
  addFault(fault: Fault): void;
  clearFaults(provider?: string): void;
  reset(): void;
  /** Requests received, for tests that assert what reached the provider. */
  requests: {
    provider: string;
    method: string;
    path: string;
    headers: IncomingMessage['headers'];
    body: string;
  }[];
  close(): Promise<void>;
}

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const match = /^:([A-Za-z]+)(\*)?(.*)$/.exec(segment);
      if (!match?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(match[1]);
      const rest = (match[3] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return `${match[2] ? '(.+?)' : '([^/]+?)'}${rest}`;
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const keyBody = z.strictObject({ provider: z.string().min(1), key: z.string().min(1) });

export async function startSimulator({
  providers,
  port = 0,
  host = '127.0.0.1',
  keys = {},
  log = () => {},
}: SimulatorOptions): Promise<Simulator> {
  const faults = createFaultStore();
  const jobs = createJobStore();
  const accepted = new Map<string, Set<string>>();
  const resetKeys = () => {
    accepted.clear();
    for (const provider of providers) {
      accepted.set(provider.id, new Set([...provider.defaultKeys, ...(keys[provider.id] ?? [])]));
    }
  };
  resetKeys();
  const compiled = providers.map((provider) => ({
    provider,
    routes: provider.routes.map(compile),
    publicRoutes: (provider.publicRoutes ?? []).map(compile),
  }));
  const sockets = new Set<Socket>();
  const requests: Simulator['requests'] = [];
  let origin = '';

  const send = (
    response: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    if (response.headersSent || response.destroyed) return;
    const isBuffer = Buffer.isBuffer(body);
    const payload = isBuffer ? body : typeof body === 'string' ? body : JSON.stringify(body);
    response.writeHead(status, {
      'content-type': isBuffer
        ? 'application/octet-stream'
        : typeof body === 'string'
          ? 'text/plain'
          : 'application/json',
      ...headers,
    });
    response.end(payload);
  };
  const sendError = (response: ServerResponse, error: SimulatedError) =>
    send(response, error.status, error.body, error.headers);

  async function control(request: IncomingMessage, response: ServerResponse, path: string, url: URL) {
    const raw = await readBody(request);
    let json: unknown;
    try {
      json = raw.length ? JSON.parse(raw.toString()) : undefined;
    } catch {
      return send(response, 400, { error: 'body must be JSON' });
    }
    if (request.method === 'GET' && path === '/state') {
      return send(response, 200, {
        providers: Object.fromEntries(
          providers.map((provider) => [
            provider.id,
            { baseURL: simulator.baseURL(provider.id), keys: [...(accepted.get(provider.id) ?? [])] },
          ]),
        ),
        faults: faults.list(),
      });
    }
    if (path === '/keys' && (request.method === 'POST' || request.method === 'DELETE')) {
      const parsed = keyBody.safeParse(json);
      if (!parsed.success || !accepted.has(parsed.data.provider))
        return send(response, 400, { error: 'expected {provider, key} for a known provider' });
      if (request.method === 'POST') simulator.addKey(parsed.data.provider, parsed.data.key);
      else simulator.removeKey(parsed.data.provider, parsed.data.key);
      return send(response, 204, '');
    }
    if (path === '/faults' && request.method === 'POST') {
      const parsed = faultSchema.safeParse(json);
      if (!parsed.success)
        return send(response, 400, {
          error: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
        });
      faults.add(parsed.data);
      return send(response, 204, '');
    }
    if (path === '/faults' && request.method === 'DELETE') {
      faults.clear(url.searchParams.get('provider') ?? undefined);
      return send(response, 204, '');
    }
    if (path === '/reset' && request.method === 'POST') {
      simulator.reset();
      return send(response, 204, '');
    }
    return send(response, 404, { error: 'unknown simulator control route' });
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://simulator');
    if (url.pathname.startsWith('/__simulator/'))
      return control(request, response, url.pathname.slice('/__simulator'.length), url);
    const entry = compiled.find(
      ({ provider }) => url.pathname === provider.prefix || url.pathname.startsWith(`${provider.prefix}/`),
    );
    if (!entry) return send(response, 404, { error: `no simulated provider at ${url.pathname}` });
    const { provider } = entry;
    const path = url.pathname.slice(provider.prefix.length) || '/';
    const match = (list: CompiledRoute[]) => {
      for (const candidate of list) {
        if (candidate.route.method !== request.method) continue;
        const found = candidate.pattern.exec(path);
        if (found)
          return {
            route: candidate.route,
            params: Object.fromEntries(
              candidate.names.map((name, index) => [name, decodeURIComponent(found[index + 1] ?? '')]),
            ),
          };
      }
      return undefined;
    };
    const publicMatch = match(entry.publicRoutes);
    const found = publicMatch ?? match(entry.routes);
    const body = await readBody(request);
    requests.push({
      provider: provider.id,
      method: request.method ?? 'GET',
      path: `${path}${url.search}`,
      headers: request.headers,
      body: body.toString(),
    });
    if (requests.length > 1000) requests.shift();
    const key = provider.extractKey(request, url.searchParams);
    const fault = publicMatch ? { provider: provider.id } : faults.take(provider.id, key);
    if (fault.stall) return; // the socket stays open until the client gives up (or close())
    if (fault.latencyMs) await delay(fault.latencyMs);
    if (!publicMatch) {
      if (fault.status) {
        return sendError(
          response,
          provider.error(fault.status, {
            ...(fault.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: fault.retryAfterSeconds }),
            ...(fault.quotaExhausted ? { quotaExhausted: true } : {}),
          }),
        );
      }
      if (key === undefined || !accepted.get(provider.id)?.has(key))
        return sendError(response, provider.unauthorized(key));
    }
    if (!found) return sendError(response, provider.error(404, { message: `Unknown path ${path}` }));
    let json: unknown;
    try {
      json =
        body.length > 0 && /json/.test(request.headers['content-type'] ?? 'application/json')
          ? JSON.parse(body.toString())
          : undefined;
    } catch {
      return sendError(response, provider.error(400, { message: 'The request body is not valid JSON.' }));
    }
    const context: RouteContext = {
      request,
      response,
      path,
      params: found.params,
      query: url.searchParams,
      body,
      json,
      key,
      fault,
      jobs,
      origin,
      send: (status, payload, headers) => send(response, status, payload, headers),
      sendError: (error) => sendError(response, error),
      async stream(frames, { errorFrame, headers = {} }) {
        response.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          ...headers,
        });
        let sent = 0;
        for (const frame of frames) {
          if (response.destroyed) return;
          if (fault.midStreamErrorAfterChunks !== undefined && sent >= fault.midStreamErrorAfterChunks) {
            response.end(errorFrame);
            return;
          }
          if (fault.chunkDelayMs && sent > 0) await delay(fault.chunkDelayMs);
          if (!response.write(frame)) await new Promise((resolve) => response.once('drain', resolve));
          sent += 1;
        }
        response.end();
      },
    };
    await found.route.handle(context);
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log(`simulator: handler failed: ${error instanceof Error ? error.message : String(error)}`);
      send(response, 500, { error: 'simulator internal error' });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  origin = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  const simulator: Simulator = {
    url: origin,
    baseURL(providerId) {
      const provider = providers.find((candidate) => candidate.id === providerId);
      if (!provider) throw new Error(`the simulator has no provider ${providerId}`);
      return `${origin}${provider.prefix}${provider.sdkBasePath}`;
    },
    addKey(provider, key) {
      accepted.get(provider)?.add(key);
    },
    removeKey(provider, key) {
      accepted.get(provider)?.delete(key);
    },
    addFault: (fault) => faults.add(faultSchema.parse(fault)),
    clearFaults: (provider) => faults.clear(provider),
    reset() {
      faults.clear();
      jobs.clear();
      resetKeys();
      requests.length = 0;
    },
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return simulator;
}
