import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import { randomHex } from '../ids.ts';
import type { Keyhaven } from '../keyhaven.ts';
import { createServices } from '../services.ts';
import type { Budgets } from '../usage/index.ts';
import type { UsageMeter } from '../usage/meter.ts';
import type { VideoWorkerOptions } from '../videos/index.ts';
import type { EventSink } from '../webhooks/events.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import { gatewayToken } from './auth.ts';
import { registerBudgetRoutes } from './budget-routes.ts';
import type { ServiceContext } from './context.ts';
import { sendError } from './errors.ts';
import { registerGatewayRoutes } from './gateway-routes.ts';
import { type LoggerOptions, lazyChildLogger, loggerOptions } from './logging.ts';
import { createMetrics, methodLabel } from './metrics.ts';
import { registerRoutes } from './routes.ts';
import { registerUsageRoutes } from './usage-routes.ts';
import { registerVideoRoutes } from './video-routes.ts';
import { registerCors, registerWebRoutes } from './web-routes.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';

/**
 * The HTTP service: Fastify with zod schemas on every route (validation, serialization and the OpenAPI
 * document come from the same schemas), bearer-token auth on /v1, metrics, redacted logs.
 */
export interface ServerOptions {
  keyhaven: Keyhaven;
  /** SHA-256 of the admin token; without it only user tokens are accepted. */
  adminTokenHash?: Buffer | undefined;
  /** Log options, or false for no logs. Default: the configured LOG_LEVEL to stdout. */
  logger?: LoggerOptions | false;
  clock?: () => Date;
  /** Where events go. Default: the webhook service on this server's database. */
  events?: EventSink;
  /** Where usage goes. Default: the usage store on this server's database. */
  usage?: UsageMeter;
  /** Monthly budgets. Default: budgets on this server's database, alerts sent to `events`. */
  budgets?: Budgets;
  /** The video job worker: poll timing, concurrency, or enabled: false to run no worker here. */
  videoWorker?: VideoWorkerOptions;
  /** Where `npm run build` put the dashboard and web component. Default: dist/web of this checkout. */
  webRoot?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The provider a request is about, once a route knows it: a metrics label. */
    metricsProvider?: string;
    /** The matched route's pattern, read once when the request begins: a metrics label. */
    routeUrl?: string;
  }
}

export async function buildServer({
  keyhaven,
  adminTokenHash,
  logger = { level: keyhaven.config.logLevel },
  clock = () => new Date(),
  events,
  usage,
  budgets,
  videoWorker,
  webRoot,
}: ServerOptions): Promise<FastifyInstance> {
  const server = Fastify({
    logger: logger === false ? false : loggerOptions(logger),
    // Our own ids: a client-chosen id would let a caller write arbitrary text into our logs.
    requestIdHeader: false,
    genReqId: () => `req_${randomHex(8)}`,
    // One log line per request (written in onResponse below) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    // Router refusals (malformed URL, over-long path parameter) answer in the error model too.
    frameworkErrors: (error, request, reply) => sendError(error, request, reply),
  });
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  server.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  server.setNotFoundHandler((request, reply) =>
    sendError(new KeyhavenError('not_found', 'no such route'), request, reply),
  );

  const metrics = createMetrics();
  const services = createServices(keyhaven, {
    clock,
    log: server.log,
    metrics,
    videoWorker,
    adminTokenHash,
    ...(events ? { events } : {}),
    ...(usage ? { usage } : {}),
    ...(budgets ? { budgets } : {}),
  });
  const { tokens } = services;
  const context: ServiceContext = {
    keyhaven,
    services,
    metrics,
    clock,
    tokens,
    webhooks: services.webhooks,
    events: services.events,
    usage: services.usage,
    budgets: services.budgets,
    limits: services.limits,
    videos: services.videos,
    beforeUserShred: [],
  };
  // Workers run while the server does; on close they stop first, then what they and the requests left
  // behind (settlements, queued usage) is written, before the database closes.
  server.addHook('onReady', async () => services.start());
  server.addHook('onClose', async () => services.close());

  // Properties the hooks and routes set on a request, declared up front: every request object then has
  // the same shape from birth, instead of changing hidden class when one is first set (which makes the
  // framework's request handling polymorphic).
  server.decorateRequest('principal', undefined);
  server.decorateRequest('metricsProvider', undefined);
  server.decorateRequest('routeUrl', undefined);
  await registerCors(server, keyhaven.config.corsOrigins);
  server.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // routeOptions is a getter that builds a new object on every read: read once.
    const { config } = request.routeOptions;
    request.routeUrl = config.url;
    if (config.url?.startsWith('/v1/')) {
      // Passthrough routes take the token where each provider's SDK sends its API key.
      const tokenFrom = config.gatewayTokenFrom;
      request.principal = tokenFrom
        ? await tokens.authenticateToken(gatewayToken(request.headers, tokenFrom))
        : await tokens.authenticate(request.headers.authorization);
    }
  });
  // A provider named in a path is a label only when it is one we know: client text never becomes a series.
  const knownProvider = (value: unknown) =>
    typeof value === 'string' && keyhaven.providers.get(value) ? value : undefined;
  // The request line holds only what the req/res serializers pick (method, path without its query,
  // request id, status) and a time: nothing in it can carry a secret, so it skips the redaction pass
  // every other line gets, whose wildcard paths cost more than writing the line itself.
  const accessLog = server.log.child({}, { redact: [] });
  server.addHook('onResponse', async (request, reply) => {
    accessLog.info(
      { reqId: request.id, req: request, res: reply, responseTime: reply.elapsedTime },
      'request completed',
    );
    metrics.observe(
      {
        method: methodLabel(request.method),
        route: request.routeUrl ?? request.routeOptions.url ?? 'unmatched',
        provider:
          request.metricsProvider ?? knownProvider((request.params as { provider?: unknown })?.provider),
        status: reply.statusCode,
      },
      reply.elapsedTime / 1000,
    );
  });

  await server.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keyhaven',
        description: 'Bring-your-own-key vault and gateway for AI providers',
        version: '1',
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'The admin token, or a user token (khu_...) for its own user',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await server.register(fastifySwaggerUi, { routePrefix: '/docs' });

  const app = server.withTypeProvider<ZodTypeProvider>();
  app.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());
  app.get(
    '/health',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: 200 while the process is up',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: 200 when the database answers, 503 otherwise',
        response: {
          200: z.object({ status: z.literal('ready') }),
          503: z.object({ status: z.literal('unavailable') }),
        },
      },
    },
    async (request, reply) => {
      try {
        await sql`select 1`.execute(keyhaven.database.db);
        return reply.code(200).send({ status: 'ready' });
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check: database unreachable');
        return reply.code(503).send({ status: 'unavailable' });
      }
    },
  );
  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics' } },
    async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  registerRoutes(server, context);
  registerGatewayRoutes(server, context);
  registerVideoRoutes(server, context);
  registerWebhookRoutes(server, context);
  registerUsageRoutes(server, context);
  registerAdminRoutes(server, context);
  await registerWebRoutes(server, webRoot === undefined ? {} : { webRoot });
  registerBudgetRoutes(server, context);
  await server.ready();
  return server;
}

/**
 * Stops taking requests and lets the ones in flight finish (streams included); after `drainMs` the
 * connections still open are cut. Then the workers' leases are released (onClose hooks) and the database
 * and keys closed.
 */
export async function closeServer(
  server: FastifyInstance,
  keyhaven: Pick<Keyhaven, 'close'>,
  { drainMs = 30_000 }: { drainMs?: number } = {},
): Promise<void> {
  const deadline = setTimeout(() => server.server.closeAllConnections(), drainMs);
  deadline.unref();
  try {
    await server.close();
  } finally {
    clearTimeout(deadline);
    await keyhaven.close();
  }
}
