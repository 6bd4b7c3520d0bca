import { limiterFromConfig } from './gateway/index.ts';
import type { Keyhaven } from './keyhaven.ts';
import { createTokenService } from './server/auth.ts';
import { createBudgets } from './usage/budgets.ts';
import { createUsageStore } from './usage/index.ts';
import type { UsageMeter } from './usage/meter.ts';
import { createVideoService, type VideoMetrics, type VideoWorkerOptions } from './videos/index.ts';
import type { EventSink } from './webhooks/events.ts';
import { createWebhookService, isWebhookService, webhookSettingsFromEnv } from './webhooks/index.ts';

/**
 * The services above the vault (user tokens, webhooks, usage, budgets, rate limits and video jobs),
 * composed once over a Keyhaven core. The HTTP server builds them with its logger and metrics; an
 * application embedding Keyhaven gets the same ones from `keyhaven.services()`. Their workers (video
 * jobs, webhook deliveries) run between `start()` and `close()`; `close()` stops the workers first,
 * then writes what they and the requests left behind (budget settlements, queued usage events).
 */
export interface ServiceLogger {
  child(bindings: Record<string, unknown>): ServiceLogger;
  error(object: unknown, message?: string): void;
  warn(object: unknown, message?: string): void;
  info(object: unknown, message?: string): void;
}

export interface ServicesOptions {
  clock?: () => Date;
  log?: ServiceLogger;
  /** Video job counters (the server's Prometheus metrics). */
  metrics?: VideoMetrics;
  videoWorker?: VideoWorkerOptions;
  /** SHA-256 of the admin token, for a token service that also authenticates the admin. */
  adminTokenHash?: Buffer | undefined;
  /** Replace where events, usage or budgets go (tests use recorders). */
  events?: EventSink;
  usage?: UsageMeter;
  budgets?: ReturnType<typeof createBudgets>;
}

const silentLogger: ServiceLogger = {
  child: () => silentLogger,
  error: () => {},
  warn: () => {},
  info: () => {},
};

export function createServices(
  keyhaven: Keyhaven,
  {
    clock = () => new Date(),
    log = silentLogger,
    metrics,
    videoWorker = {},
    adminTokenHash,
    events,
    usage: givenUsage,
    budgets: givenBudgets,
  }: ServicesOptions = {},
) {
  const { config, database, prices } = keyhaven;
  const onError = (error: unknown, message: string) => log.error({ err: error }, message);
  // Endpoints and deliveries always have a webhook service; events go to it unless a sink is given.
  const webhooks = isWebhookService(events)
    ? events
    : createWebhookService({
        db: database.db,
        kms: keyhaven.kms,
        tenant: config.tenant,
        allowPrivateUrls: config.allowPrivateUrls,
        clock,
        settings: webhookSettingsFromEnv(config.env),
        logger: log.child({ component: 'webhooks' }),
      });
  const eventSink = events ?? webhooks;
  const usage =
    givenUsage ?? createUsageStore({ db: database.db, pglite: database.pglite, prices, clock, onError });
  const budgets =
    givenBudgets ?? createBudgets({ db: database.db, prices, events: eventSink, clock, onError });
  // One limiter for the gateway and video submissions: a provider's per-user limit counts both.
  const limits = limiterFromConfig(config, keyhaven.providers);
  const videos = createVideoService({
    db: database.db,
    vault: keyhaven.vault,
    providers: keyhaven.providers,
    prices,
    events: eventSink,
    usage,
    budgets,
    ...(metrics ? { metrics } : {}),
    clock,
    allowPrivateUrls: config.allowPrivateUrls,
    log: log.child({ component: 'videos' }),
    worker: videoWorker,
    rateLimiter: limits.limiter,
  });
  const tokens = createTokenService({ db: database.db, adminTokenHash, clock });
  let started = false;
  let closed: Promise<void> | undefined;

  return {
    tokens,
    webhooks,
    events: eventSink,
    usage,
    budgets,
    limits,
    videos,
    /** Starts the video worker (unless disabled) and webhook deliveries. */
    async start(): Promise<void> {
      if (started) return;
      started = true;
      await videos.worker.start();
      await webhooks.start();
    },
    close(): Promise<void> {
      closed ??= (async () => {
        try {
          await videos.worker.stop();
          await webhooks.close();
          await budgets.drain();
          await (usage.close ? usage.close() : usage.flush());
        } finally {
          await limits.close();
        }
      })();
      return closed;
    },
  };
}

export type Services = ReturnType<typeof createServices>;
