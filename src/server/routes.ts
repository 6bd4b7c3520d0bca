import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import { actorOf, type Principal, requireAdmin, requireUser } from './auth.ts';
import type { ServiceContext } from './context.ts';
import { errorBodySchema } from './errors.ts';
import {
  auditEventSchema,
  auditQuery,
  auditVerificationSchema,
  credentialParams,
  credentialSummarySchema,
  errorResponses,
  mintedTokenSchema,
  mintTokenBody,
  providerInfoSchema,
  storeCredentialBody,
  summaryBody,
  testResultSchema,
  tokenParams,
  userParams,
} from './schemas.ts';

/** The v1 routes of the design's section 5 that belong to the service core (not the gateway or videos). */
declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

function principalOf(request: FastifyRequest): Principal {
  // Set by the authentication hook that runs before every /v1 route; its absence is a bug.
  if (!request.principal) throw new KeyhavenError('internal', 'request reached a route unauthenticated');
  return request.principal;
}

const bearer = [{ bearerAuth: [] }];

export function registerRoutes(
  server: FastifyInstance,
  {
    keyhaven,
    tokens,
    events,
    beforeUserShred,
  }: Pick<ServiceContext, 'keyhaven' | 'tokens' | 'events' | 'beforeUserShred'>,
): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const { vault } = keyhaven;

  /** The principal, after checking it may act for the user named in the path. */
  const forUser = (request: FastifyRequest, userId: string): Principal => {
    const principal = principalOf(request);
    requireUser(principal, userId);
    return principal;
  };

  app.get(
    '/v1/providers',
    {
      schema: {
        tags: ['providers'],
        summary: 'The provider catalog: credential fields, capabilities, limits and status',
        security: bearer,
        response: { 200: z.object({ providers: z.array(providerInfoSchema) }), ...errorResponses },
      },
    },
    async () => ({
      providers: keyhaven.catalog().map((provider) => ({
        ...provider,
        // Plain data by construction (ProviderInfo); typed as open records so the schema stays short.
        capabilities: { ...provider.capabilities } as Record<string, unknown>,
        defaultRateLimits: { ...provider.defaultRateLimits } as Record<string, unknown>,
      })),
    }),
  );

  app.get(
    '/v1/users/:userId/credentials',
    {
      schema: {
        tags: ['credentials'],
        summary: 'A summary for every provider, connected or not',
        security: bearer,
        params: userParams,
        response: { 200: z.object({ credentials: z.array(credentialSummarySchema) }), ...errorResponses },
      },
    },
    async (request) => {
      forUser(request, request.params.userId);
      const summaries = await vault.list({ userId: request.params.userId });
      return { credentials: summaries.map(summaryBody) };
    },
  );

  app.put(
    '/v1/users/:userId/credentials/:provider',
    {
      schema: {
        tags: ['credentials'],
        summary: 'Store (or rotate) a credential, validating it with the provider first',
        security: bearer,
        params: credentialParams,
        body: storeCredentialBody,
        response: {
          200: credentialSummarySchema,
          ...errorResponses,
          422: errorBodySchema,
          429: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request) => {
      const principal = forUser(request, request.params.userId);
      const summary = await vault.store({
        userId: request.params.userId,
        provider: request.params.provider,
        credentials: request.body.credentials,
        validate: request.body.validate,
        actor: actorOf(principal),
      });
      return summaryBody(summary);
    },
  );

  app.get(
    '/v1/users/:userId/credentials/:provider',
    {
      schema: {
        tags: ['credentials'],
        summary: "One provider's credential summary (connected: false when none is stored)",
        security: bearer,
        params: credentialParams,
        response: { 200: credentialSummarySchema, ...errorResponses },
      },
    },
    async (request) => {
      forUser(request, request.params.userId);
      return summaryBody(await vault.get(request.params));
    },
  );

  app.delete(
    '/v1/users/:userId/credentials/:provider',
    {
      schema: {
        tags: ['credentials'],
        summary: 'Delete every version of the credential',
        security: bearer,
        params: credentialParams,
        response: { 204: z.undefined(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const principal = forUser(request, request.params.userId);
      await vault.remove({ ...request.params, actor: actorOf(principal) });
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/users/:userId/credentials/:provider/test',
    {
      schema: {
        tags: ['credentials'],
        summary: 'Validate the stored credential with the provider again and record the outcome',
        security: bearer,
        params: credentialParams,
        response: { 200: testResultSchema, ...errorResponses, 503: errorBodySchema },
      },
    },
    async (request) => {
      const principal = forUser(request, request.params.userId);
      const before = await vault.get(request.params);
      const { result, summary } = await vault.test({ ...request.params, actor: actorOf(principal) });
      // Tell the application once, when a key turns invalid (not on every test of a known-bad key).
      if (result.status === 'invalid' && before.status !== 'invalid') {
        await events
          .emit({
            type: 'credential.invalid',
            userId: request.params.userId,
            data: {
              provider: summary.provider,
              credentialId: summary.credentialId,
              version: summary.version,
              reason: result.reason,
              source: 'test',
            },
          })
          .catch((error: unknown) =>
            request.log.error({ err: error }, 'could not record credential.invalid'),
          );
      }
      return { result, summary: summaryBody(summary) };
    },
  );

  app.delete(
    '/v1/users/:userId',
    {
      schema: {
        tags: ['users'],
        summary: 'Crypto-shred everything of the user: data keys, credentials, tokens',
        security: bearer,
        params: userParams,
        response: { 204: z.undefined(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const principal = forUser(request, request.params.userId);
      for (const step of beforeUserShred) await step(request.params.userId, request);
      await vault.shred({ userId: request.params.userId, actor: actorOf(principal) });
      await tokens.removeUser(request.params.userId);
      return reply.code(204).send();
    },
  );

  app.post(
    '/v1/users/:userId/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Mint a user token (admin only); the token is shown once',
        security: bearer,
        params: userParams,
        body: mintTokenBody,
        response: { 201: mintedTokenSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireAdmin(principalOf(request));
      const minted = await tokens.mint({
        userId: request.params.userId,
        ttlSeconds: request.body.ttlSeconds,
      });
      return reply.code(201).send({
        ...minted,
        createdAt: minted.createdAt.toISOString(),
        expiresAt: minted.expiresAt.toISOString(),
      });
    },
  );

  app.delete(
    '/v1/tokens/:tokenId',
    {
      schema: {
        tags: ['tokens'],
        summary: "Revoke a user token (admin, or the token's own user)",
        security: bearer,
        params: tokenParams,
        response: { 204: z.undefined(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await tokens.revoke({ tokenId: request.params.tokenId, principal: principalOf(request) });
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/admin/audit',
    {
      schema: {
        tags: ['admin'],
        summary: 'Audit events in sequence order (admin only)',
        security: bearer,
        querystring: auditQuery,
        response: { 200: z.object({ events: z.array(auditEventSchema) }), ...errorResponses },
      },
    },
    async (request) => {
      requireAdmin(principalOf(request));
      const { limit, afterSeq, userId } = request.query;
      const rows = await vault.listAudit({
        limit,
        ...(afterSeq === undefined ? {} : { afterSeq }),
        ...(userId === undefined ? {} : { userId }),
      });
      return {
        events: rows.map((row) => ({
          seq: String(row.seq),
          occurredAt: new Date(row.occurred_at).toISOString(),
          action: row.action,
          actor: row.actor,
          userId: row.user_id,
          provider: row.provider,
          credentialId: row.credential_id,
          purpose: row.purpose,
          detail: row.detail,
          hash: row.hash,
        })),
      };
    },
  );

  app.get(
    '/v1/admin/audit/verify',
    {
      schema: {
        tags: ['admin'],
        summary: "Check the audit log's hash chain (admin only)",
        security: bearer,
        response: { 200: auditVerificationSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireAdmin(principalOf(request));
      await vault.flush();
      return vault.verifyAudit();
    },
  );
}
