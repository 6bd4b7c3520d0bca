import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Kysely, sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { Kms, SecretValue } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import { newId } from '../ids.ts';
import { assertPublicUrl } from '../net/public-url.ts';
import type { Tables } from '../store/index.ts';
import type {
  WebhookAttemptRow,
  WebhookDeliveryRow,
  WebhookDeliveryStatus,
  WebhookEndpointRow,
} from '../store/webhook-tables.ts';
import {
  type EventSink,
  KEYHAVEN_EVENT_TYPES,
  type KeyhavenEvent,
  type KeyhavenEventType,
} from './events.ts';
import { createSecretBox, generateWebhookSecret } from './secrets.ts';
import { createWebhookTransport, type SendOutcome, sendWebhook, type WebhookFetch } from './send.ts';
import { DEFAULT_WEBHOOK_SETTINGS, retryDelayMs, type WebhookSettings } from './settings.ts';

/**
 * The webhook service: endpoints and their secrets, the EventSink producers call, and the delivery
 * worker. emit() only writes (the event with its exact body, and one delivery row per target, in one
 * transaction); the worker claims due deliveries with FOR UPDATE SKIP LOCKED and a lease, so any number
 * of instances can run it, and a crashed instance's deliveries are picked up once its lease expires.
 * Delivery is at least once: receivers deduplicate on webhook-id, which is the event id.
 */
export interface WebhookLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface WebhookServiceOptions {
  db: Kysely<Tables>;
  kms: Kms;
  tenant: string;
  /** KEYHAVEN_ALLOW_PRIVATE_URLS: accept loopback and private receivers (development and tests). */
  allowPrivateUrls: boolean;
  clock?: () => Date;
  settings?: Partial<WebhookSettings>;
  /** Replaces the HTTP transport (the default refuses non-public addresses at connect time). */
  fetch?: WebhookFetch;
  logger?: WebhookLogger;
  random?: () => number;
  /** How many due deliveries one worker pass claims. */
  batchSize?: number;
}

/** What each finished attempt reports to listeners (metrics): no ids, no URLs. */
export interface WebhookAttemptReport {
  eventType: string;
  target: 'endpoint' | 'job';
  /** The delivery's state after the attempt. */
  status: WebhookDeliveryStatus;
  ok: boolean;
  durationMs: number;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: KeyhavenEventType[];
  description: string | null;
  createdAt: Date;
  disabledAt: Date | null;
  disabledReason: string | null;
}

export interface WebhookAttempt {
  attempt: number;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string | null;
  /** Set for per-job URLs; endpoint deliveries go to their endpoint's URL. */
  url: string | null;
  eventId: string;
  eventType: string;
  userId: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  lastResponseStatus: number | null;
  lastError: string | null;
  lastAttemptAt: Date | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  completedAt: Date | null;
  history: WebhookAttempt[];
}

const SERVICE_BRAND = Symbol.for('keyhaven.webhook-service');
const SIGNING_SECRET_ID = 'default';
const MAX_PAYLOAD_BYTES = 256 * 1024;
const PRUNE_INTERVAL_MS = 10 * 60_000;
const NOOP_LOGGER: WebhookLogger = { info() {}, warn() {}, error() {} };

const eventSchema = z.object({
  type: z.enum(KEYHAVEN_EVENT_TYPES),
  userId: z.string().min(1).max(256),
  data: z.record(z.string(), z.unknown()),
  webhookUrl: z
    .string()
    .max(2048)
    .regex(/^https?:\/\//i, 'must be an http(s) URL')
    .optional(),
});

function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

function notFound(): KeyhavenError {
  return new KeyhavenError('not_found', 'no such webhook endpoint');
}

function toEndpoint(row: WebhookEndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: (row.event_types as KeyhavenEventType[] | null) ?? [...KEYHAVEN_EVENT_TYPES],
    description: row.description,
    createdAt: new Date(row.created_at),
    disabledAt: row.disabled_at === null ? null : new Date(row.disabled_at),
    disabledReason: row.disabled_reason,
  };
}

const date = (value: Date | string | null) => (value === null ? null : new Date(value));

export function createWebhookService({
  db,
  kms,
  tenant,
  allowPrivateUrls,
  clock = () => new Date(),
  settings: settingsOverrides = {},
  fetch: injectedFetch,
  logger = NOOP_LOGGER,
  random = Math.random,
  batchSize = 16,
}: WebhookServiceOptions) {
  const settings: WebhookSettings = { ...DEFAULT_WEBHOOK_SETTINGS, ...settingsOverrides };
  const box = createSecretBox({ db, kms, tenant, clock });
  const transport = injectedFetch ? undefined : createWebhookTransport({ allowPrivate: allowPrivateUrls });
  const send: WebhookFetch = injectedFetch ?? (transport as NonNullable<typeof transport>).fetch;
  const workerId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  // A lease outlives the longest attempt by a wide margin; an expired one means the worker died.
  const leaseMs = settings.timeoutMs + 60_000;
  const listeners: ((report: WebhookAttemptReport) => void)[] = [];

  // ---- endpoints --------------------------------------------------------------------------------

  async function createEndpoint(input: {
    url: string;
    events?: readonly KeyhavenEventType[] | undefined;
    description?: string | undefined;
  }): Promise<{ endpoint: WebhookEndpoint; secret: SecretValue }> {
    const url = await assertPublicUrl(input.url, 'url', { allowPrivate: allowPrivateUrls });
    const id = newId('whk');
    const secret = generateWebhookSecret();
    const sealed = await box.seal('endpoint', id, secret);
    const now = clock();
    const types = input.events === undefined ? null : [...new Set(input.events)].sort();
    const row = await db
      .insertInto('webhook_endpoints')
      .values({
        id,
        url: url.href,
        event_types: types === null ? null : JSON.stringify(types),
        description: input.description ?? null,
        dek_version: sealed.dekVersion,
        secret: sealed.secret,
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { endpoint: toEndpoint(row), secret };
  }

  async function listEndpoints(): Promise<WebhookEndpoint[]> {
    const rows = await db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toEndpoint);
  }

  async function endpointRow(id: string): Promise<WebhookEndpointRow> {
    const row = await db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound();
    return row;
  }

  async function getEndpoint(id: string): Promise<WebhookEndpoint> {
    return toEndpoint(await endpointRow(id));
  }

  /** Deletes the endpoint with its delivery log; its pending deliveries are dropped. */
  async function removeEndpoint(id: string): Promise<void> {
    const deleted = await db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) throw notFound();
  }

  /** Turns deliveries to a disabled endpoint (a 410 Gone) back on, for events from now on. */
  async function enableEndpoint(id: string): Promise<WebhookEndpoint> {
    const row = await db
      .updateTable('webhook_endpoints')
      .set({ disabled_at: null, disabled_reason: null, updated_at: clock() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound();
    return toEndpoint(row);
  }

  /** A new secret for the endpoint; the old one stops working at once. */
  async function rotateEndpointSecret(
    id: string,
  ): Promise<{ endpoint: WebhookEndpoint; secret: SecretValue }> {
    await endpointRow(id);
    const secret = generateWebhookSecret();
    const sealed = await box.seal('endpoint', id, secret);
    const row = await db
      .updateTable('webhook_endpoints')
      .set({ dek_version: sealed.dekVersion, secret: sealed.secret, updated_at: clock() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound();
    return { endpoint: toEndpoint(row), secret };
  }

  // ---- the server-wide signing secret (per-job webhookUrl deliveries) ---------------------------

  /** The secret per-job deliveries are signed with, created on first use (once, however many race). */
  async function signingSecret(): Promise<{ secret: SecretValue; createdAt: Date }> {
    const existing = await db
      .selectFrom('webhook_signing_secrets')
      .selectAll()
      .where('id', '=', SIGNING_SECRET_ID)
      .executeTakeFirst();
    if (existing) {
      const secret = await box.open('signing', existing.id, {
        dekVersion: existing.dek_version,
        secret: existing.secret,
      });
      return { secret, createdAt: new Date(existing.created_at) };
    }
    const sealed = await box.seal('signing', SIGNING_SECRET_ID, generateWebhookSecret());
    await db
      .insertInto('webhook_signing_secrets')
      .values({
        id: SIGNING_SECRET_ID,
        dek_version: sealed.dekVersion,
        secret: sealed.secret,
        created_at: clock(),
      })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute();
    return signingSecret();
  }

  async function rotateSigningSecret(): Promise<{ secret: SecretValue; createdAt: Date }> {
    const secret = generateWebhookSecret();
    const sealed = await box.seal('signing', SIGNING_SECRET_ID, secret);
    const createdAt = clock();
    await db
      .insertInto('webhook_signing_secrets')
      .values({
        id: SIGNING_SECRET_ID,
        dek_version: sealed.dekVersion,
        secret: sealed.secret,
        created_at: createdAt,
      })
      .onConflict((conflict) =>
        conflict
          .column('id')
          .doUpdateSet({ dek_version: sealed.dekVersion, secret: sealed.secret, created_at: createdAt }),
      )
      .execute();
    return { secret, createdAt };
  }

  // ---- emit ---------------------------------------------------------------------------------------

  async function emit(input: KeyhavenEvent): Promise<void> {
    const parsed = eventSchema.safeParse(input);
    if (!parsed.success) {
      throw new KeyhavenError(
        'invalid_request',
        `invalid event: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
    const event = parsed.data;
    const id = randomId('evt');
    const now = clock();
    const payload = JSON.stringify({
      type: event.type,
      timestamp: now.toISOString(),
      data: { ...event.data, userId: event.userId },
    });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
      throw new KeyhavenError('invalid_request', 'event data is larger than 256 KiB');
    }
    const queued = await db.transaction().execute(async (trx) => {
      const endpoints = await trx
        .selectFrom('webhook_endpoints')
        .select(['id', 'event_types'])
        .where('disabled_at', 'is', null)
        .execute();
      const targets: { endpoint_id: string | null; url: string | null }[] = endpoints
        .filter((endpoint) => endpoint.event_types === null || endpoint.event_types.includes(event.type))
        .map((endpoint) => ({ endpoint_id: endpoint.id, url: null }));
      if (event.webhookUrl !== undefined) targets.push({ endpoint_id: null, url: event.webhookUrl });
      // No receiver: nothing to record (events are kept only as the body of their deliveries).
      if (targets.length === 0) return 0;
      await trx
        .insertInto('webhook_events')
        .values({ id, type: event.type, user_id: event.userId, payload, created_at: now })
        .execute();
      await trx
        .insertInto('webhook_deliveries')
        .values(
          targets.map((target) => ({
            id: randomId('whd'),
            event_id: id,
            ...target,
            status: 'pending' as const,
            next_attempt_at: now,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
      return targets.length;
    });
    if (queued > 0) worker.wake();
  }

  // ---- delivery log -------------------------------------------------------------------------------

  /**
   * The delivery log, newest first. With an endpoint id: that endpoint's deliveries (404 when there is
   * no such endpoint); with target 'job': deliveries to per-job URLs; filters by user, type and status.
   */
  async function listDeliveries({
    endpointId,
    target,
    userId,
    eventType,
    status,
    limit = 100,
  }: {
    endpointId?: string | undefined;
    target?: 'endpoint' | 'job' | undefined;
    userId?: string | undefined;
    eventType?: KeyhavenEventType | undefined;
    status?: WebhookDeliveryStatus | undefined;
    limit?: number | undefined;
  }): Promise<WebhookDelivery[]> {
    if (endpointId !== undefined) await endpointRow(endpointId);
    let query = db
      .selectFrom('webhook_deliveries')
      .innerJoin('webhook_events', 'webhook_events.id', 'webhook_deliveries.event_id')
      .selectAll('webhook_deliveries')
      .select(['webhook_events.type as event_type', 'webhook_events.user_id as user_id']);
    if (endpointId !== undefined) query = query.where('webhook_deliveries.endpoint_id', '=', endpointId);
    if (target === 'job') query = query.where('webhook_deliveries.endpoint_id', 'is', null);
    if (target === 'endpoint') query = query.where('webhook_deliveries.endpoint_id', 'is not', null);
    if (userId !== undefined) query = query.where('webhook_events.user_id', '=', userId);
    if (eventType !== undefined) query = query.where('webhook_events.type', '=', eventType);
    if (status !== undefined) query = query.where('webhook_deliveries.status', '=', status);
    const rows = await query
      .orderBy('webhook_deliveries.created_at', 'desc')
      .orderBy('webhook_deliveries.id', 'desc')
      .limit(Math.min(Math.max(limit, 1), 1000))
      .execute();
    const attempts: WebhookAttemptRow[] =
      rows.length === 0
        ? []
        : await db
            .selectFrom('webhook_attempts')
            .selectAll()
            .where(
              'delivery_id',
              'in',
              rows.map((row) => row.id),
            )
            .orderBy('attempt')
            .execute();
    const history = new Map<string, WebhookAttempt[]>();
    for (const attempt of attempts) {
      const list = history.get(attempt.delivery_id) ?? [];
      list.push({
        attempt: attempt.attempt,
        startedAt: new Date(attempt.started_at),
        durationMs: attempt.duration_ms,
        responseStatus: attempt.response_status,
        error: attempt.error,
      });
      history.set(attempt.delivery_id, list);
    }
    return rows.map((row) => ({
      id: row.id,
      endpointId: row.endpoint_id,
      url: row.url,
      eventId: row.event_id,
      eventType: row.event_type,
      userId: row.user_id,
      status: row.status,
      attempts: row.attempts,
      lastResponseStatus: row.last_response_status,
      lastError: row.last_error,
      lastAttemptAt: date(row.last_attempt_at),
      nextAttemptAt: date(row.next_attempt_at),
      createdAt: new Date(row.created_at),
      completedAt: date(row.completed_at),
      history: history.get(row.id) ?? [],
    }));
  }

  // ---- the delivery worker ------------------------------------------------------------------------

  /** Claims up to batchSize due deliveries for this worker (skipping rows another worker holds). */
  async function claim(): Promise<WebhookDeliveryRow[]> {
    const now = clock();
    const until = new Date(now.getTime() + leaseMs);
    const result = await sql<WebhookDeliveryRow>`
      with due as (
        select id from webhook_deliveries
        where status = 'pending' and next_attempt_at <= ${now}
          and (lease_expires_at is null or lease_expires_at <= ${now})
        order by next_attempt_at
        limit ${batchSize}
        for update skip locked
      )
      update webhook_deliveries as d
      set lease_owner = ${workerId}, lease_expires_at = ${until}
      from due where d.id = due.id
      returning d.*`.execute(db);
    return result.rows;
  }

  async function finish(
    delivery: WebhookDeliveryRow,
    attempt: { number: number; startedAt: Date; durationMs: number; outcome: SendOutcome } | undefined,
    permanentError?: string,
  ): Promise<WebhookDeliveryStatus> {
    const now = clock();
    const outcome = attempt?.outcome;
    const attempts = attempt?.number ?? delivery.attempts;
    let status: WebhookDeliveryStatus;
    let nextAttemptAt: Date | null = null;
    if (outcome?.ok) status = 'succeeded';
    else if (permanentError !== undefined || outcome?.gone || attempts >= settings.maxAttempts)
      status = 'failed';
    else {
      status = 'pending';
      const delay = retryDelayMs(attempts, settings, {
        random,
        ...(outcome?.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }),
      });
      nextAttemptAt = new Date(now.getTime() + delay);
    }
    const lastError = permanentError ?? (outcome && !outcome.ok ? outcome.error : null);
    await db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({
          status,
          attempts,
          next_attempt_at: nextAttemptAt,
          lease_owner: null,
          lease_expires_at: null,
          ...(attempt
            ? { last_response_status: attempt.outcome.status ?? null, last_attempt_at: attempt.startedAt }
            : {}),
          last_error: lastError,
          updated_at: now,
          completed_at: status === 'pending' ? null : now,
        })
        .where('id', '=', delivery.id)
        .where('lease_owner', '=', workerId)
        .executeTakeFirst();
      // The lease was lost (expired and taken over) or the endpoint was deleted: record nothing.
      if (Number(updated.numUpdatedRows) === 0 || !attempt) return;
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: delivery.id,
          attempt: attempt.number,
          started_at: attempt.startedAt,
          duration_ms: attempt.durationMs,
          response_status: attempt.outcome.status ?? null,
          error: attempt.outcome.ok ? null : attempt.outcome.error,
        })
        .onConflict((conflict) => conflict.columns(['delivery_id', 'attempt']).doNothing())
        .execute();
      if (outcome && !outcome.ok && outcome.gone && delivery.endpoint_id !== null) {
        await trx
          .updateTable('webhook_endpoints')
          .set({ disabled_at: now, disabled_reason: 'the receiver answered 410 Gone', updated_at: now })
          .where('id', '=', delivery.endpoint_id)
          .where('disabled_at', 'is', null)
          .execute();
      }
    });
    const log = {
      deliveryId: delivery.id,
      eventId: delivery.event_id,
      endpointId: delivery.endpoint_id,
      attempt: attempts,
      status,
      responseStatus: outcome?.status,
    };
    if (status === 'succeeded') logger.info(log, 'webhook delivered');
    else if (status === 'failed')
      logger.warn({ ...log, error: lastError }, 'webhook delivery failed for good');
    else
      logger.info({ ...log, error: lastError, nextAttemptAt }, 'webhook delivery attempt failed; will retry');
    return status;
  }

  function report(entry: WebhookAttemptReport): void {
    for (const listener of listeners) {
      try {
        listener(entry);
      } catch (error) {
        logger.error({ err: error }, 'webhook attempt listener failed');
      }
    }
  }

  async function deliver(delivery: WebhookDeliveryRow): Promise<void> {
    const event = await db
      .selectFrom('webhook_events')
      .select(['id', 'type', 'payload'])
      .where('id', '=', delivery.event_id)
      .executeTakeFirst();
    if (!event) return;
    let url: string;
    let secret: SecretValue;
    if (delivery.endpoint_id !== null) {
      const endpoint = await db
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', delivery.endpoint_id)
        .executeTakeFirst();
      if (!endpoint) return;
      if (endpoint.disabled_at !== null) {
        await finish(delivery, undefined, 'the endpoint is disabled');
        return;
      }
      url = endpoint.url;
      secret = await box.open('endpoint', endpoint.id, {
        dekVersion: endpoint.dek_version,
        secret: endpoint.secret,
      });
    } else {
      url = delivery.url ?? '';
      secret = (await signingSecret()).secret;
    }
    const startedAt = clock();
    const signature = new Webhook(secret.reveal()).sign(event.id, startedAt, event.payload);
    const started = performance.now();
    const outcome = await sendWebhook({
      url,
      body: event.payload,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Keyhaven-Webhooks/1',
        'webhook-id': event.id,
        'webhook-timestamp': String(Math.floor(startedAt.getTime() / 1000)),
        'webhook-signature': signature,
      },
      fetch: send,
      timeoutMs: settings.timeoutMs,
      allowPrivate: allowPrivateUrls,
      clock,
    });
    const durationMs = Math.round(performance.now() - started);
    const status = await finish(delivery, { number: delivery.attempts + 1, startedAt, durationMs, outcome });
    report({
      eventType: event.type,
      target: delivery.endpoint_id === null ? 'job' : 'endpoint',
      status,
      ok: outcome.ok,
      durationMs,
    });
  }

  /**
   * Deletes events older than the retention whose deliveries are all finished (their deliveries and
   * attempts go with them). Returns how many events were deleted.
   */
  async function prune(): Promise<number> {
    const before = new Date(clock().getTime() - settings.retentionDays * 86_400_000);
    const deleted = await db
      .deleteFrom('webhook_events')
      .where('created_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('webhook_deliveries')
              .select('webhook_deliveries.id')
              .whereRef('webhook_deliveries.event_id', '=', 'webhook_events.id')
              .where('webhook_deliveries.status', '=', 'pending'),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(deleted.numDeletedRows);
  }

  let lastPruneAt = 0;

  /** One pass: claim what is due and deliver it. Returns how many deliveries were claimed. */
  async function runOnce(): Promise<number> {
    box.prune();
    if (clock().getTime() - lastPruneAt > PRUNE_INTERVAL_MS) {
      lastPruneAt = clock().getTime();
      await prune().catch((error: unknown) => logger.error({ err: error }, 'webhook log pruning failed'));
    }
    const claimed = await claim();
    await Promise.all(
      claimed.map((delivery) =>
        deliver(delivery).catch(async (error: unknown) => {
          logger.error({ err: error, deliveryId: delivery.id }, 'webhook delivery could not be prepared');
          // Counted as a failed attempt, so a delivery that cannot be prepared (an undecryptable secret)
          // backs off and finally fails instead of being retried on every pass.
          const failed: SendOutcome = {
            ok: false,
            error: 'internal error: the delivery could not be prepared',
          };
          await finish(delivery, {
            number: delivery.attempts + 1,
            startedAt: clock(),
            durationMs: 0,
            outcome: failed,
          }).catch(() => releaseLeases([delivery.id]).catch(() => {}));
        }),
      ),
    );
    return claimed.length;
  }

  async function releaseLeases(ids?: string[]): Promise<void> {
    let query = db
      .updateTable('webhook_deliveries')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('lease_owner', '=', workerId);
    if (ids) query = query.where('id', 'in', ids);
    await query.execute();
  }

  const worker = (() => {
    let timer: NodeJS.Timeout | undefined;
    let active: Promise<void> | undefined;
    let again = false;
    let running = false;

    const schedule = (delayMs: number) => {
      if (!running) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = undefined;
        run();
      }, delayMs);
      timer.unref();
    };

    const run = () => {
      if (!running) return;
      if (active) {
        again = true;
        return;
      }
      active = (async () => {
        do {
          again = false;
          try {
            if ((await runOnce()) >= batchSize) again = true;
          } catch (error) {
            logger.error({ err: error }, 'webhook worker pass failed');
          }
        } while (again && running);
      })().finally(() => {
        active = undefined;
        schedule(settings.pollIntervalMs);
      });
    };

    return {
      start() {
        if (running) return;
        running = true;
        schedule(0);
      },
      wake() {
        if (!running) return;
        if (active) again = true;
        else schedule(0);
      },
      /** Stops claiming, lets the attempts in flight finish, then gives back any lease still held. */
      async stop() {
        running = false;
        if (timer) clearTimeout(timer);
        timer = undefined;
        await active;
        await releaseLeases();
      },
    };
  })();

  const sink: EventSink = { emit };
  return {
    [SERVICE_BRAND]: true as const,
    emit: sink.emit,
    createEndpoint,
    listEndpoints,
    getEndpoint,
    removeEndpoint,
    enableEndpoint,
    rotateEndpointSecret,
    signingSecret,
    rotateSigningSecret,
    listDeliveries,
    /** Delivers whatever is due now, once (tests and one-shot tools; the worker does this on a timer). */
    runOnce,
    prune,
    /** Calls the listener after every attempt (metrics). */
    onAttempt(listener: (report: WebhookAttemptReport) => void): void {
      listeners.push(listener);
    },
    start: () => worker.start(),
    /** Stops the worker, releases its leases and the HTTP connection pool. Safe to call twice. */
    async close() {
      await worker.stop();
      await transport?.close().catch(() => {});
      box.close();
    },
    settings,
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;

export function isWebhookService(value: unknown): value is WebhookService {
  return typeof value === 'object' && value !== null && SERVICE_BRAND in value;
}
