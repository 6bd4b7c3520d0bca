import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';

/**
 * Delivery tuning, read from the environment next to the rest of the configuration. The defaults suit
 * production; tests shorten them. A bad value stops start-up with a message naming the variable.
 *
 * KEYHAVEN_WEBHOOK_MAX_ATTEMPTS      attempts before a delivery is marked failed (default 8)
 * KEYHAVEN_WEBHOOK_RETRY_BASE_MS     first retry delay; each later one is 4 times longer (default 30000)
 * KEYHAVEN_WEBHOOK_RETRY_MAX_MS      cap on one retry delay (default 8 hours)
 * KEYHAVEN_WEBHOOK_TIMEOUT_MS        how long a receiver has to answer (default 10000)
 * KEYHAVEN_WEBHOOK_POLL_MS           how often the worker looks for due deliveries (default 1000)
 * KEYHAVEN_WEBHOOK_RETENTION_DAYS    how long finished deliveries stay in the log (default 30)
 */
export interface WebhookSettings {
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  timeoutMs: number;
  pollIntervalMs: number;
  retentionDays: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  maxAttempts: 8,
  retryBaseMs: 30_000,
  retryMaxMs: 8 * 3_600_000,
  timeoutMs: 10_000,
  pollIntervalMs: 1_000,
  retentionDays: 30,
};

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^[0-9]{1,10}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional();

const variables = {
  KEYHAVEN_WEBHOOK_MAX_ATTEMPTS: ['maxAttempts', integer(1, 50)],
  KEYHAVEN_WEBHOOK_RETRY_BASE_MS: ['retryBaseMs', integer(1, 86_400_000)],
  KEYHAVEN_WEBHOOK_RETRY_MAX_MS: ['retryMaxMs', integer(1, 7 * 86_400_000)],
  KEYHAVEN_WEBHOOK_TIMEOUT_MS: ['timeoutMs', integer(100, 120_000)],
  KEYHAVEN_WEBHOOK_POLL_MS: ['pollIntervalMs', integer(10, 60_000)],
  KEYHAVEN_WEBHOOK_RETENTION_DAYS: ['retentionDays', integer(1, 3650)],
} as const;

export function webhookSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): WebhookSettings {
  const settings = { ...DEFAULT_WEBHOOK_SETTINGS };
  for (const [variable, [key, schema]] of Object.entries(variables)) {
    const raw = env[variable];
    if (raw === undefined || raw.trim() === '') continue;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const message = parsed.error.issues[0]?.message ?? 'invalid value';
      throw new KeyhavenError('invalid_config', `${variable}: ${message}`);
    }
    if (parsed.data !== undefined) settings[key] = parsed.data;
  }
  return settings;
}

/**
 * The wait before attempt `attempt + 1`, after `attempt` failed ones: base * 4^(attempt-1), capped, with
 * "equal jitter" (half fixed, half random) so retries of many deliveries spread out while each wait
 * stays at least half the nominal one. A receiver's Retry-After is honoured up to the cap.
 */
export function retryDelayMs(
  attempt: number,
  { retryBaseMs, retryMaxMs }: Pick<WebhookSettings, 'retryBaseMs' | 'retryMaxMs'>,
  { random = Math.random, retryAfterMs }: { random?: () => number; retryAfterMs?: number } = {},
): number {
  const nominal = Math.min(retryMaxMs, retryBaseMs * 4 ** Math.max(0, attempt - 1));
  const jittered = nominal / 2 + random() * (nominal / 2);
  const wanted = retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs);
  return Math.round(Math.min(retryMaxMs, wanted));
}
