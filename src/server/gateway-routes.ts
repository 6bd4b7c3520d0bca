import type { FastifyInstance } from 'fastify';
import {
  createCredentialCache,
  createGateway,
  GATEWAY_PROVIDERS,
  sharedAgent,
  type TokenLocation,
} from '../gateway/index.ts';
import { gatewayUser } from './auth.ts';
import type { ServiceContext } from './context.ts';

/** The passthrough gateway: /v1/openai/*, /v1/anthropic/*, /v1/gemini/*, /v1/mistral/*. */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on passthrough routes: where the Keyhaven token is read instead of Authorization: Bearer. */
    gatewayTokenFrom?: readonly TokenLocation[];
  }
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Requests are buffered (so they can be retried); generous enough for inline images and audio. */
const BODY_LIMIT_BYTES = 64 * 1024 * 1024;

export function registerGatewayRoutes(server: FastifyInstance, context: ServiceContext): void {
  const { keyhaven } = context;
  // Its own scope: the raw-body parser below must not replace the JSON parser of the other routes.
  server.register(async (scope) => {
    const credentials = createCredentialCache({ vault: keyhaven.vault });
    const gateway = createGateway({
      keyhaven,
      credentials,
      limiter: context.limits.limiter,
      usage: context.usage,
      budgets: context.budgets,
      events: context.events,
      metrics: context.metrics,
      clock: context.clock,
      agent: sharedAgent(keyhaven.config.upstreamTimeouts),
    });
    // Streams running when close() is called are let finish; their keep-alive connections must then
    // be closed, or server.close() would wait for the clients to drop them.
    let closing = false;
    const releaseWhenDone = (response: NodeJS.WritableStream & { writableFinished: boolean }) => {
      const release = () => setImmediate(() => scope.server.closeIdleConnections());
      if (response.writableFinished) release();
      else response.once('finish', release);
    };
    scope.addHook('preClose', async () => {
      closing = true;
    });
    // Runs once the server has stopped and its in-flight streams have ended.
    scope.addHook('onClose', async () => {
      credentials.close();
    });

    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES },
      (_request, body, done) => done(null, body),
    );

    for (const route of GATEWAY_PROVIDERS) {
      const name = keyhaven.providers.get(route.provider)?.displayName ?? route.provider;
      scope.route({
        method: METHODS,
        url: `/v1/${route.mount}/*`,
        config: { gatewayTokenFrom: route.tokenFrom },
        schema: {
          tags: ['gateway'],
          summary: `Passthrough to ${name}: point the official SDK's base URL here, with a user token as its API key`,
          description: `The rest of the path and the query go to ${name} unchanged, with the user's own key. The token is read from ${route.tokenFrom.join(' or ')}; with the admin token, x-keyhaven-user names the user. Responses carry x-keyhaven-credential: ${route.provider}:<version>.`,
        },
        handler: async (request, reply) => {
          request.metricsProvider = route.provider;
          if (!request.principal) throw new Error('request reached a route unauthenticated');
          const userId = gatewayUser(request.principal, request.headers['x-keyhaven-user']);
          await gateway.proxy(request, reply, route, userId);
          if (closing) releaseWhenDone(reply.raw);
          return reply;
        },
      });
    }
  });
}
