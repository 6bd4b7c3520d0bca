import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Fault } from './faults.ts';
import type { JobStore } from './jobs.ts';

/** What a simulated provider module declares: its routes, where its key travels, its error format. */
export interface SimulatedError {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

export interface ErrorOptions {
  retryAfterSeconds?: number;
  quotaExhausted?: boolean;
  message?: string;
}

export interface RouteContext {
  request: IncomingMessage;
  response: ServerResponse;
  /** Path below the provider's prefix, e.g. /v1/chat/completions. */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: Buffer;
  /** The parsed JSON body; undefined when there is none or it is not JSON. */
  json: unknown;
  key: string | undefined;
  fault: Fault;
  jobs: JobStore;
  /** The simulator's own base URL (for URLs it hands out: video files, token endpoints). */
  origin: string;
  send(status: number, body: unknown, headers?: Record<string, string>): void;
  sendError(error: SimulatedError): void;
  /**
   * Writes SSE frames (complete `event:`/`data:` text, each ending in a blank line) honouring the
   * fault's chunk delay and mid-stream error; stops when the client goes away.
   */
  stream(
    frames: Iterable<string>,
    options: { errorFrame: string; headers?: Record<string, string> },
  ): Promise<void>;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** A path with :params, e.g. /v1/tasks/:id. A param may match slashes when written :name*. */
  path: string;
  handle(context: RouteContext): void | Promise<void>;
}

export interface ProviderSimulation {
  id: string;
  /** URL prefix the provider's real paths live under, e.g. /openai. */
  prefix: string;
  /** Path the provider's SDK base URL ends with, below the prefix (e.g. /v1 for OpenAI). */
  sdkBasePath: string;
  defaultKeys: readonly string[];
  extractKey(request: IncomingMessage, query: URLSearchParams): string | undefined;
  /** The error a request with a missing or unknown key gets, exactly as the provider sends it. */
  unauthorized(key: string | undefined): SimulatedError;
  /** The provider's error for an injected status. */
  error(status: number, options: ErrorOptions): SimulatedError;
  routes: readonly Route[];
  /** Routes that need no key (token endpoints, downloads with signed URLs). */
  publicRoutes?: readonly Route[];
}
