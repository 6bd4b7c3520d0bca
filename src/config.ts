import { resolve } from 'node:path';
import { z } from 'zod';
import { KeyhavenError } from './errors.ts';

/**
 * Environment -> typed configuration, parsed once. A bad value stops start-up with a message that names
 * the variable (and never echoes a secret). Master keys are parsed by the crypto keyring, not here.
 */
export interface Config {
  dataDir: string;
  databaseUrl: string | undefined;
  /** PostgreSQL schema Keyhaven's tables live in (created when missing). */
  databaseSchema: string;
  tenant: string;
  /** A JSON price file merged over the built-in price table. */
  pricesFile: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** HTTP port of `keyhaven serve` (0 picks a free one). */
  port: number;
  /** Listen address: loopback unless HOST says otherwise, so a first `npm start` is not on the network. */
  host: string;
  /** The admin token as given; absent means the server generates one and stores only its hash. */
  adminToken: string | undefined;
  /** Redis for rate limits shared by every instance; absent = PostgreSQL when DATABASE_URL is set, else memory. */
  redisUrl: string | undefined;
  /** Allow webhook and image URLs on loopback or private addresses (local development and tests only). */
  allowPrivateUrls: boolean;
  /** Per-provider rate-limit overrides, from KEYHAVEN_RATE_LIMITS (JSON: {"openai": {"perMinute": 60}}). */
  rateLimits: Readonly<Record<string, { perMinute?: number; perHour?: number }>>;
  /**
   * How long the gateway waits for a provider: for the response headers, and between two chunks of the
   * body (a stalled stream). A long generation without streaming can take minutes, hence the defaults.
   */
  upstreamTimeouts: { headersMs: number; idleMs: number };
  /**
   * The video job worker of this instance: off for API-only instances; the lease a crashed instance's
   * jobs wait out before another takes them over; how often it looks for work and first reads a status.
   */
  videoWorker: { enabled: boolean; leaseMs: number; pollIntervalMs: number; firstPollMs: number };
  /** Origins allowed to call the API from a browser (CORS), from KEYHAVEN_CORS_ORIGINS; empty: same origin only. */
  corsOrigins: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const milliseconds = optionalText.refine(
  (value) => value === undefined || (/^[0-9]{1,9}$/.test(value) && Number(value) >= 100),
  'must be a number of milliseconds, at least 100',
);

/** An exact origin: scheme, host and port (a path or a trailing slash never matches a browser's Origin). */
const corsOrigin = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}, 'each entry must be an origin such as https://app.example.com (scheme, host and port only, no path or trailing slash; * is not accepted)');

const schema = z.object({
  KEYHAVEN_DATA_DIR: optionalText,
  DATABASE_URL: optionalText.refine(
    (value) => value === undefined || /^postgres(ql)?:\/\//.test(value),
    'must be a postgres:// or postgresql:// connection string',
  ),
  KEYHAVEN_DATABASE_SCHEMA: optionalText.refine(
    (value) => value === undefined || /^[a-z_][a-z0-9_]{0,62}$/.test(value),
    'must be a lower-case SQL identifier such as keyhaven',
  ),
  KEYHAVEN_TENANT: optionalText.refine(
    (value) => value === undefined || /^[a-z0-9][a-z0-9_-]{0,63}$/.test(value),
    'must be 1-64 lower-case letters, digits, _ or -',
  ),
  KEYHAVEN_PRICES_FILE: optionalText,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  PORT: optionalText.refine(
    (value) => value === undefined || (/^[0-9]{1,5}$/.test(value) && Number(value) <= 65535),
    'must be a port number (0-65535)',
  ),
  HOST: optionalText,
  KEYHAVEN_ADMIN_TOKEN: z
    .string()
    .optional()
    .refine(
      (value) => value === undefined || value === '' || /^[\x21-\x7e]{32,512}$/.test(value),
      'must be at least 32 printable characters without spaces (generate one with: openssl rand -base64 32)',
    ),
  REDIS_URL: optionalText.refine(
    (value) => value === undefined || /^rediss?:\/\//.test(value),
    'must be a redis:// or rediss:// URL',
  ),
  KEYHAVEN_ALLOW_PRIVATE_URLS: z
    .enum(['true', 'false', '1', '0', ''])
    .optional()
    .transform((value) => value === 'true' || value === '1'),
  KEYHAVEN_UPSTREAM_HEADERS_TIMEOUT_MS: milliseconds,
  KEYHAVEN_UPSTREAM_IDLE_TIMEOUT_MS: milliseconds,
  KEYHAVEN_VIDEO_WORKER: z
    .enum(['true', 'false', '1', '0', ''])
    .optional()
    .transform((value) => value !== 'false' && value !== '0'),
  KEYHAVEN_VIDEO_LEASE_MS: milliseconds,
  KEYHAVEN_VIDEO_POLL_INTERVAL_MS: milliseconds,
  KEYHAVEN_VIDEO_FIRST_POLL_MS: milliseconds,
  KEYHAVEN_CORS_ORIGINS: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== ''),
    )
    .pipe(z.array(corsOrigin)),
  KEYHAVEN_RATE_LIMITS: optionalText.transform((value, context) => {
    if (value === undefined) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      context.addIssue({ code: 'custom', message: 'must be JSON such as {"openai": {"perMinute": 60}}' });
      return z.NEVER;
    }
    const limits = z
      .record(
        z.string(),
        z.strictObject({
          perMinute: z.number().int().positive().optional(),
          perHour: z.number().int().positive().optional(),
        }),
      )
      .safeParse(parsed);
    if (!limits.success) {
      context.addIssue({
        code: 'custom',
        message: 'must map provider ids to {"perMinute": n, "perHour": n} with positive integers',
      });
      return z.NEVER;
    }
    return limits.data;
  }),
});

export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const result = schema.safeParse({
    KEYHAVEN_DATA_DIR: env.KEYHAVEN_DATA_DIR,
    DATABASE_URL: env.DATABASE_URL,
    KEYHAVEN_DATABASE_SCHEMA: env.KEYHAVEN_DATABASE_SCHEMA,
    KEYHAVEN_TENANT: env.KEYHAVEN_TENANT,
    KEYHAVEN_PRICES_FILE: env.KEYHAVEN_PRICES_FILE,
    LOG_LEVEL: env.LOG_LEVEL?.trim() || undefined,
    PORT: env.PORT,
    HOST: env.HOST,
    KEYHAVEN_ADMIN_TOKEN: env.KEYHAVEN_ADMIN_TOKEN,
    REDIS_URL: env.REDIS_URL,
    KEYHAVEN_ALLOW_PRIVATE_URLS: env.KEYHAVEN_ALLOW_PRIVATE_URLS?.trim().toLowerCase(),
    KEYHAVEN_RATE_LIMITS: env.KEYHAVEN_RATE_LIMITS,
    KEYHAVEN_CORS_ORIGINS: env.KEYHAVEN_CORS_ORIGINS,
    KEYHAVEN_UPSTREAM_HEADERS_TIMEOUT_MS: env.KEYHAVEN_UPSTREAM_HEADERS_TIMEOUT_MS,
    KEYHAVEN_UPSTREAM_IDLE_TIMEOUT_MS: env.KEYHAVEN_UPSTREAM_IDLE_TIMEOUT_MS,
    KEYHAVEN_VIDEO_WORKER: env.KEYHAVEN_VIDEO_WORKER?.trim().toLowerCase(),
    KEYHAVEN_VIDEO_LEASE_MS: env.KEYHAVEN_VIDEO_LEASE_MS,
    KEYHAVEN_VIDEO_POLL_INTERVAL_MS: env.KEYHAVEN_VIDEO_POLL_INTERVAL_MS,
    KEYHAVEN_VIDEO_FIRST_POLL_MS: env.KEYHAVEN_VIDEO_FIRST_POLL_MS,
  });
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'configuration');
    throw new KeyhavenError('invalid_config', `${variable}: ${issue?.message ?? 'invalid value'}`);
  }
  const values = result.data;
  return {
    dataDir: resolve(values.KEYHAVEN_DATA_DIR ?? '.keyhaven'),
    databaseUrl: values.DATABASE_URL,
    databaseSchema: values.KEYHAVEN_DATABASE_SCHEMA ?? 'public',
    tenant: values.KEYHAVEN_TENANT ?? 'default',
    pricesFile: values.KEYHAVEN_PRICES_FILE ? resolve(values.KEYHAVEN_PRICES_FILE) : undefined,
    logLevel: values.LOG_LEVEL ?? 'info',
    port: values.PORT === undefined ? 8080 : Number(values.PORT),
    host: values.HOST ?? '127.0.0.1',
    adminToken: values.KEYHAVEN_ADMIN_TOKEN || undefined,
    redisUrl: values.REDIS_URL,
    allowPrivateUrls: values.KEYHAVEN_ALLOW_PRIVATE_URLS,
    rateLimits: values.KEYHAVEN_RATE_LIMITS,
    corsOrigins: values.KEYHAVEN_CORS_ORIGINS,
    upstreamTimeouts: {
      headersMs: Number(values.KEYHAVEN_UPSTREAM_HEADERS_TIMEOUT_MS ?? 300_000),
      idleMs: Number(values.KEYHAVEN_UPSTREAM_IDLE_TIMEOUT_MS ?? 300_000),
    },
    videoWorker: {
      enabled: values.KEYHAVEN_VIDEO_WORKER,
      leaseMs: Number(values.KEYHAVEN_VIDEO_LEASE_MS ?? 60_000),
      pollIntervalMs: Number(values.KEYHAVEN_VIDEO_POLL_INTERVAL_MS ?? 1_000),
      firstPollMs: Number(values.KEYHAVEN_VIDEO_FIRST_POLL_MS ?? 2_000),
    },
    env,
  };
}
