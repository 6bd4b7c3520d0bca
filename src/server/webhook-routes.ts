import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { Counter, Histogram } from 'prom-client';
import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import {
  KEYHAVEN_EVENT_TYPES,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookService,
} from '../webhooks/index.ts';
import { requireAdmin } from './auth.ts';
import type { ServiceContext } from './context.ts';
import { errorResponses } from './schemas.ts';

/**
 * Webhook endpoints and their deliveries: /v1/webhooks (admin only). Secrets are in a response only
 * when they are created (endpoint creation, rotation) or asked for explicitly (the signing secret).
 */

/** The webhook service a server uses by default: on the server's database, tuned from the environment. */

const timestamp = z.string().describe('ISO 8601 date and time');
const eventTypeSchema = z.enum(KEYHAVEN_EVENT_TYPES);
const endpointParams = z.object({
  id: z.string().regex(/^whk_[0-9a-f]{24}$/, 'id must look like whk_<24 hex digits>'),
});
const secretSchema = z
  .string()
  .describe('whsec_<base64>: verify deliveries with any Standard Webhooks library; shown only here');

const createEndpointBody = z.object({
  url: z.string().min(1).max(2048).describe('where deliveries are POSTed (http or https, public address)'),
  events: z
    .array(eventTypeSchema)
    .min(1)
    .optional()
    .describe('event types to deliver; absent: every type, including ones added later'),
  description: z.string().max(500).optional(),
});

const endpointSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  description: z.string().nullable(),
  createdAt: timestamp,
  disabledAt: timestamp.nullable().describe('set when the receiver answered 410 Gone'),
  disabledReason: z.string().nullable(),
});

const endpointWithSecretSchema = endpointSchema.extend({ secret: secretSchema });

const deliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const allDeliveriesQuery = deliveriesQuery.extend({
  target: z
    .enum(['endpoint', 'job'])
    .optional()
    .describe('endpoint: to registered endpoints; job: to per-job webhookUrl addresses'),
  userId: z.string().min(1).max(256).optional(),
  eventType: eventTypeSchema.optional(),
  status: z.enum(['pending', 'succeeded', 'failed']).optional(),
});

const deliverySchema = z.object({
  id: z.string(),
  endpointId: z.string().nullable().describe('null for a per-job webhookUrl delivery'),
  url: z.string().nullable().describe('the per-job webhookUrl; null for endpoint deliveries'),
  eventId: z.string().describe('the webhook-id header: the same on every attempt, for deduplication'),
  eventType: z.string(),
  userId: z.string(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.number().int(),
  lastResponseStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  lastAttemptAt: timestamp.nullable(),
  nextAttemptAt: timestamp.nullable(),
  createdAt: timestamp,
  completedAt: timestamp.nullable(),
  history: z.array(
    z.object({
      attempt: z.number().int(),
      startedAt: timestamp,
      durationMs: z.number().int(),
      responseStatus: z.number().int().nullable(),
      error: z.string().nullable(),
    }),
  ),
});

const signingSecretSchema = z.object({ secret: secretSchema, createdAt: timestamp });

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

function endpointBody(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    description: endpoint.description,
    createdAt: endpoint.createdAt.toISOString(),
    disabledAt: iso(endpoint.disabledAt),
    disabledReason: endpoint.disabledReason,
  };
}

function deliveryBody(delivery: WebhookDelivery) {
  return {
    id: delivery.id,
    endpointId: delivery.endpointId,
    url: delivery.url,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    userId: delivery.userId,
    status: delivery.status,
    attempts: delivery.attempts,
    lastResponseStatus: delivery.lastResponseStatus,
    lastError: delivery.lastError,
    lastAttemptAt: iso(delivery.lastAttemptAt),
    nextAttemptAt: iso(delivery.nextAttemptAt),
    createdAt: delivery.createdAt.toISOString(),
    completedAt: iso(delivery.completedAt),
    history: delivery.history.map((attempt) => ({
      attempt: attempt.attempt,
      startedAt: attempt.startedAt.toISOString(),
      durationMs: attempt.durationMs,
      responseStatus: attempt.responseStatus,
      error: attempt.error,
    })),
  };
}

function admin(request: FastifyRequest): void {
  if (!request.principal) throw new KeyhavenError('internal', 'request reached a route unauthenticated');
  requireAdmin(request.principal);
}

const bearer = [{ bearerAuth: [] }];

export function registerWebhookRoutes(server: FastifyInstance, context: ServiceContext): void {
  const { webhooks } = context;
  const attempts = new Counter({
    name: 'keyhaven_webhook_attempts_total',
    help: 'Webhook delivery attempts by event type, target (endpoint or job URL) and outcome',
    labelNames: ['event', 'target', 'outcome'] as const,
    registers: [context.metrics.registry],
  });
  const attemptDuration = new Histogram({
    name: 'keyhaven_webhook_attempt_duration_seconds',
    help: 'Time receivers took to answer a webhook delivery attempt',
    labelNames: ['target'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [context.metrics.registry],
  });
  webhooks.onAttempt((report) => {
    const outcome = report.ok ? 'delivered' : report.status === 'failed' ? 'failed' : 'retrying';
    attempts.inc({ event: report.eventType, target: report.target, outcome });
    attemptDuration.observe({ target: report.target }, report.durationMs / 1000);
  });

  // Every route here is admin only, checked before validation: to a user token the routes do not exist,
  // whatever it sends.
  server.register(async (scope) => {
    scope.addHook('preValidation', async (request) => admin(request));
    routes(scope, webhooks);
  });
}

function routes(server: FastifyInstance, webhooks: WebhookService): void {
  const app = server.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/v1/webhooks',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Register a webhook endpoint (admin only); its signing secret is shown once',
        description:
          'Deliveries are Standard Webhooks requests: headers webhook-id, webhook-timestamp and webhook-signature ' +
          '(v1, HMAC-SHA256 with the secret), body {type, timestamp, data}. Failed deliveries are retried with ' +
          'exponential backoff; a 410 Gone disables the endpoint.',
        security: bearer,
        body: createEndpointBody,
        response: { 201: endpointWithSecretSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { endpoint, secret } = await webhooks.createEndpoint(request.body);
      return reply.code(201).send({ ...endpointBody(endpoint), secret: secret.reveal() });
    },
  );

  app.get(
    '/v1/webhooks',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'List webhook endpoints (admin only; secrets are never listed)',
        security: bearer,
        response: { 200: z.object({ webhooks: z.array(endpointSchema) }), ...errorResponses },
      },
    },
    async () => ({ webhooks: (await webhooks.listEndpoints()).map(endpointBody) }),
  );

  app.get(
    '/v1/webhooks/signing-secret',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'The secret that signs deliveries to per-job webhookUrl addresses (admin only)',
        description:
          'Video jobs submitted with a webhookUrl get their events there too, signed like endpoint deliveries ' +
          'but with this server-wide secret (created on first use). Verify them with a Standard Webhooks library.',
        security: bearer,
        response: { 200: signingSecretSchema, ...errorResponses },
      },
    },
    async () => {
      const { secret, createdAt } = await webhooks.signingSecret();
      return { secret: secret.reveal(), createdAt: createdAt.toISOString() };
    },
  );

  app.post(
    '/v1/webhooks/signing-secret/rotate',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Replace the per-job signing secret (admin only); the old one stops signing at once',
        security: bearer,
        response: { 200: signingSecretSchema, ...errorResponses },
      },
    },
    async () => {
      const { secret, createdAt } = await webhooks.rotateSigningSecret();
      return { secret: secret.reveal(), createdAt: createdAt.toISOString() };
    },
  );

  app.get(
    '/v1/webhooks/deliveries',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Every delivery, newest first, filtered by target, user, event type or status (admin only)',
        description: 'The log of per-job webhookUrl deliveries is here (target=job).',
        security: bearer,
        querystring: allDeliveriesQuery,
        response: { 200: z.object({ deliveries: z.array(deliverySchema) }), ...errorResponses },
      },
    },
    async (request) => {
      const deliveries = await webhooks.listDeliveries(request.query);
      return { deliveries: deliveries.map(deliveryBody) };
    },
  );

  app.get(
    '/v1/webhooks/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'One webhook endpoint (admin only; without its secret)',
        security: bearer,
        params: endpointParams,
        response: { 200: endpointSchema, ...errorResponses },
      },
    },
    async (request) => endpointBody(await webhooks.getEndpoint(request.params.id)),
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a webhook endpoint with its delivery log; pending deliveries are dropped',
        security: bearer,
        params: endpointParams,
        response: { 204: z.undefined(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await webhooks.removeEndpoint(request.params.id);
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/webhooks/:id/rotate-secret',
    {
      schema: {
        tags: ['webhooks'],
        summary:
          "Replace an endpoint's signing secret (admin only); shown once, re-enables a disabled endpoint",
        security: bearer,
        params: endpointParams,
        response: { 200: endpointWithSecretSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { endpoint, secret } = await webhooks.rotateEndpointSecret(request.params.id);
      return { ...endpointBody(endpoint), secret: secret.reveal() };
    },
  );

  app.post(
    '/v1/webhooks/:id/enable',
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Turn a disabled endpoint (it answered 410 Gone) back on for new events (admin only)',
        security: bearer,
        params: endpointParams,
        response: { 200: endpointSchema, ...errorResponses },
      },
    },
    async (request) => endpointBody(await webhooks.enableEndpoint(request.params.id)),
  );

  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      schema: {
        tags: ['webhooks'],
        summary: "An endpoint's delivery log, newest first, with every attempt (admin only)",
        security: bearer,
        params: endpointParams,
        querystring: deliveriesQuery,
        response: { 200: z.object({ deliveries: z.array(deliverySchema) }), ...errorResponses },
      },
    },
    async (request) => {
      const deliveries = await webhooks.listDeliveries({
        endpointId: request.params.id,
        limit: request.query.limit,
      });
      return { deliveries: deliveries.map(deliveryBody) };
    },
  );
}
