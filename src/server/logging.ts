import type { FastifyServerOptions } from 'fastify';

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
    ...(stream ? { stream } : {}),
  };
}
