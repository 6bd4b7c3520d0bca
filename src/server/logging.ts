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

let stdout: LineBlocks | undefined;

/** The lines a block holds before it is written (in UTF-16 code units: a bound, not an exact size). */
const BLOCK_LENGTH = 32 * 1024;
/** The longest a line waits for its block. */
const BLOCK_WAIT_MS = 100;
/** Where blocks go: a sync sonic-boom destination, or anything with write (tests). */
type BlockDestination = Pick<pino.DestinationStream, 'write'> & { flushSync?: () => void };

/**
 * Log lines gathered into blocks, each handed to the destination in one write. Lines are kept in an
 * array and joined once per block: sonic-boom's own buffering (minLength) appends each line to a string
 * and measures that string's byte length on every write, which makes V8 copy the whole pending block
 * (16 KiB on average at 32 KiB blocks) once per line; that was the largest allocation of a gateway call.
 */
export class LineBlocks {
  #lines: string[] = [];
  #length = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #out: BlockDestination;

  constructor(out: BlockDestination) {
    this.#out = out;
  }

  write(line: string): boolean {
    this.#lines.push(line);
    this.#length += line.length;
    if (this.#length >= BLOCK_LENGTH) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), BLOCK_WAIT_MS);
      this.#timer.unref();
    }
    return true;
  }

  /** Hands what is pending to the destination, as one write. */
  flush(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#lines.length === 0) return;
    const block = this.#lines.join('');
    this.#lines = [];
    this.#length = 0;
    this.#out.write(block);
  }

  /** Writes everything pending before returning (at exit). */
  flushSync(): void {
    this.flush();
    this.#out.flushSync?.();
  }
}

/**
 * Standard output (one destination per process), written in blocks of 32 KiB: a line written on its own
 * is a system call per request (and a wake-up of whatever reads the pipe), which cost more than making
 * the line. Writes stay synchronous (no thread-pool round trip, sonic-boom retrying partial writes and a
 * full pipe); a line waits at most 100 ms, and what is pending is written when the process exits, so
 * only a killed process (SIGKILL) loses the last 100 ms.
 */
function bufferedStdout(): LineBlocks {
  if (!stdout) {
    const blocks = new LineBlocks(pino.destination({ dest: 1, sync: true, maxWrite: 64 * 1024 }));
    process.once('exit', () => blocks.flushSync());
    stdout = blocks;
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
