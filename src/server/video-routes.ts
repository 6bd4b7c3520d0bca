import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import { userIdSchema } from '../vault/input.ts';
import { MAX_BATCH, videoBatchSchema, videoJobSchema, videoRequestSchema } from '../videos/index.ts';
import { requireUser } from './auth.ts';
import type { ServiceContext } from './context.ts';
import { errorBodySchema } from './errors.ts';
import { errorResponses } from './schemas.ts';

/**
 * Video jobs: /v1/users/:userId/videos. The routes are thin: the video service plans, stores and runs
 * jobs, and its worker starts with the server (onReady) and stops, releasing its leases, when it closes.
 */
const bearer = [{ bearerAuth: [] }];
const jobParams = z.object({ userId: userIdSchema, id: z.string().min(1).max(64) });
const outputParams = jobParams.extend({ index: z.string().min(1).max(64) });
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(512).optional(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']).optional(),
});
const submitErrors = {
  ...errorResponses,
  // budget_exceeded: the user's hard monthly budget cannot hold the job(s).
  402: errorBodySchema,
  409: errorBodySchema,
  422: errorBodySchema,
} as const;

function forUser(request: FastifyRequest, userId: string): void {
  if (!request.principal) throw new KeyhavenError('internal', 'request reached a route unauthenticated');
  requireUser(request.principal, userId);
}

export function registerVideoRoutes(server: FastifyInstance, context: ServiceContext): void {
  const { videos } = context;
  // Deleting a user (DELETE /v1/users/:userId, a core route) removes their video jobs too: canceled at the
  // provider while their credentials still exist, before the shred runs.
  context.beforeUserShred.push(async (userId) => {
    await videos.removeUser(userId);
  });

  const app = server.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/v1/users/:userId/videos',
    {
      bodyLimit: 12 * 1024 * 1024,
      schema: {
        tags: ['videos'],
        summary:
          'Submit a video job (provider, providers for failover, or strategy "cheapest"); 202 with the queued job',
        security: bearer,
        params: z.object({ userId: userIdSchema }),
        body: videoRequestSchema,
        response: { 202: videoJobSchema, ...submitErrors },
      },
    },
    async (request, reply) => {
      forUser(request, request.params.userId);
      const job = await videos.submit(request.params.userId, request.body);
      return reply.code(202).send(job);
    },
  );

  app.post(
    '/v1/users/:userId/videos/batch',
    {
      bodyLimit: 32 * 1024 * 1024,
      schema: {
        tags: ['videos'],
        summary: `Submit up to ${MAX_BATCH} video jobs, all or none: every request is checked first; the first refusal rejects the whole batch with its index in error.details.index and nothing is stored`,
        security: bearer,
        params: z.object({ userId: userIdSchema }),
        body: videoBatchSchema,
        response: { 202: z.object({ jobs: z.array(videoJobSchema) }), ...submitErrors },
      },
    },
    async (request, reply) => {
      forUser(request, request.params.userId);
      const jobs = await videos.submitBatch(request.params.userId, request.body);
      return reply.code(202).send({ jobs });
    },
  );

  app.get(
    '/v1/users/:userId/videos',
    {
      schema: {
        tags: ['videos'],
        summary: "The user's video jobs, newest first; pass nextCursor as cursor for the next page",
        security: bearer,
        params: z.object({ userId: userIdSchema }),
        querystring: listQuery,
        response: {
          200: z.object({ jobs: z.array(videoJobSchema), nextCursor: z.string().nullable() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      forUser(request, request.params.userId);
      return videos.list(request.params.userId, request.query);
    },
  );

  app.get(
    '/v1/users/:userId/videos/:id',
    {
      schema: {
        tags: ['videos'],
        summary: 'One video job with its attempts and outputs',
        security: bearer,
        params: jobParams,
        response: { 200: videoJobSchema, ...errorResponses },
      },
    },
    async (request) => {
      forUser(request, request.params.userId);
      return videos.get(request.params.userId, request.params.id);
    },
  );

  app.delete(
    '/v1/users/:userId/videos/:id',
    {
      schema: {
        tags: ['videos'],
        summary:
          'Cancel a queued or running job (the provider is asked to stop when it can); a finished job is 409',
        security: bearer,
        params: jobParams,
        response: { 200: videoJobSchema, ...errorResponses, 409: errorBodySchema },
      },
    },
    async (request) => {
      forUser(request, request.params.userId);
      return videos.cancel(request.params.userId, request.params.id);
    },
  );

  app.get(
    '/v1/users/:userId/videos/:id/outputs/:index',
    {
      schema: {
        tags: ['videos'],
        summary:
          'Download an output served by Keyhaven (access "keyhaven"): video bytes Vertex AI returned inline, or a Gemini Files API video fetched with the user’s own key',
        security: bearer,
        params: outputParams,
      },
    },
    async (request, reply) => {
      forUser(request, request.params.userId);
      const output = await videos.readOutput(request.params.userId, request.params.id, request.params.index);
      reply.type(output.mediaType).header('cache-control', 'private, no-store');
      return reply.send(
        Buffer.isBuffer(output.body)
          ? output.body
          : Readable.fromWeb(output.body as WebReadableStream<Uint8Array>),
      );
    },
  );
}
