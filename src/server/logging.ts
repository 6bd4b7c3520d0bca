import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import pino from 'pino';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;

/**
 * Pino options for the server. Request logs carry the method, the path without its query (a Gemini-style
 * `?key=` must not reach a log) and the request id; every header or body field that can hold a secret is
 * censored wherever it appears in a logged object.
 */
const SECRET_HEADERS = [
  'authorization',
  'x-api-key',
  'x-goog-api-key',
  'cookie',
  'set-cookie',
  'proxy-authorization',
];
const SECRET_FIELDS = [
  'credentials',
  'apiKey',
  'api_key',
  'serviceAccount',
  'service_account',
  'token',
  'password',
  'secret',
];

function redactPaths(): string[] {
  const headerPaths = SECRET_HEADERS.flatMap((name) => [
    `req.headers["${name}"]`,
    `res.headers["${name}"]`,
    `headers["${name}"]`,
    `*.headers["${name}"]`,
  ]);
  const fieldPaths = SECRET_FIELDS.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]);
  return [...headerPaths, ...fieldPaths];
}

export interface LoggerOptions {
  level?: string;
  /** Where log lines go (a pino destination); tests pass a stream they read. */
  stream?: NodeJS.WritableStream;
}

let stdout: pino.DestinationStream | undefined;

/**
 * Standard output (one destination per process), written in blocks of 32 KiB: a line written on its own
 * is a system call per request (and a wake-up of whatever reads the pipe), which cost more than making
 * the line. Writes stay synchronous (no thread-pool round trip); a line waits at most 100 ms, and what is
 * pending is written when the process exits, so only a killed process (SIGKILL) loses the last 100 ms.
 */
function bufferedStdout(): pino.DestinationStream {
  if (!stdout) {
    const destination = pino.destination({
      dest: 1,
      sync: true,
      minLength: 32 * 1024,
      maxWrite: 64 * 1024,
      periodicFlush: 100,
    });
    process.once('exit', () => destination.flushSync());
    stdout = destination;
  }
  return stdout;
}

export function loggerOptions({ level = 'info', stream }: LoggerOptions): FastifyServerOptions['logger'] {
  return {
    level,
    redact: { paths: redactPaths(), censor: '[redacted]' },
    serializers: {
      req(request: { method: string; url: string; id: string }) {
        return { method: request.method, path: request.url.split('?')[0], requestId: request.id };
      },
      res(reply: { statusCode: number }) {
        return { statusCode: reply.statusCode };
      },
    },
    stream: stream ?? bufferedStdout(),
  };
}

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's logger, made on first use. Most requests never log through theirs (their one line is
 * written by the server's onResponse hook), and making a pino child runs the redaction over its bindings:
 * a cost on every request for nothing.
 */
class LazyChildLogger {
  #child: FastifyBaseLogger | undefined;
  readonly parent: FastifyBaseLogger;
  readonly bindings: Bindings;
  readonly options: ChildLoggerOptions;
  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.parent = parent;
    this.bindings = bindings;
    this.options = options;
  }

  #made(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }

  #log(level: LevelName, args: unknown[]): void {
    const enabled = (this.#child ?? this.parent) as { isLevelEnabled?: (level: string) => boolean };
    if (enabled.isLevelEnabled?.(level) === false) return;
    (this.#made()[level] as (...values: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.#child ?? this.parent).level;
  }
  set level(level: string) {
    this.#made().level = level;
  }
  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#made().child(bindings, options);
  }
}

/** Fastify's childLoggerFactory: request loggers that cost nothing until something is logged. */
export function lazyChildLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(parent, bindings, options) as unknown as FastifyBaseLogger;
}
