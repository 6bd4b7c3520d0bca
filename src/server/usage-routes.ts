import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import {
  deleteUsageOf,
  eventsCsv,
  rateLimitsOf,
  type SummaryGroupBy,
  summarizeUsage,
  summaryCsv,
} from '../usage/index.ts';
import { userIdSchema } from '../vault/input.ts';
import { type Principal, requireAdmin, requireUser } from './auth.ts';
import type { ServiceContext } from './context.ts';
import { errorResponses, userParams } from './schemas.ts';

/**
 * Usage summaries (from the daily rollups) and CSV exports: /v1/users/:userId/usage[.csv],
 * /v1/users/:userId/usage/events.csv, the last upstream rate-limit headroom
 * (/v1/users/:userId/usage/rate-limits), and the admin views over every user under /v1/usage.
 * Ranges are UTC days [from, to); without them, the last 30 days up to and including today.
 */
export const MAX_RANGE_DAYS = 366;
const DEFAULT_RANGE_DAYS = 30;
const DAY_MS = 86_400_000;

/** A UTC calendar day, YYYY-MM-DD. */
export const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD (UTC)')
  .refine((value) => {
    const parsed = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(parsed.getTime()) && parsed.toISOString().startsWith(value);
  }, 'must be a real calendar date');

const rangeQuery = z.object({
  from: day.optional().describe('first day included (UTC, YYYY-MM-DD); default: 30 days before `to`'),
  to: day.optional().describe('first day excluded (UTC, YYYY-MM-DD); default: tomorrow'),
});

/** The range once defaults are applied: checked here so a defaulted bound is checked too. */
const resolvedRange = z
  .object({ from: z.string(), to: z.string() })
  .refine(({ from, to }) => from < to, { message: '`from` must be before `to`', path: ['from'] })
  .refine(
    ({ from, to }) =>
      Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`) <= MAX_RANGE_DAYS * DAY_MS,
    { message: `the range may span at most ${MAX_RANGE_DAYS} days`, path: ['to'] },
  );

const userSummaryQuery = rangeQuery.extend({
  groupBy: z.enum(['day', 'provider', 'model']).default('day'),
});
const adminSummaryQuery = rangeQuery.extend({
  groupBy: z.enum(['day', 'provider', 'model', 'user']).default('day'),
  userId: userIdSchema.optional().describe('only this user'),
});
const adminEventsQuery = rangeQuery.extend({ userId: userIdSchema.optional().describe('only this user') });

const totalsSchema = z.object({
  requests: z.number().int(),
  inputTokens: z.number().int().describe('uncached input tokens'),
  outputTokens: z.number().int().describe('output tokens, reasoning included'),
  cachedTokens: z.number().int().describe('cache reads + cache writes'),
  cacheReadTokens: z.number().int(),
  cacheWriteTokens: z.number().int(),
  reasoningTokens: z.number().int().describe('a part of outputTokens'),
  videoSeconds: z.number(),
  images: z.number().int(),
  costUsd: z.number().describe('priced requests only'),
  costMicroUsd: z.number().int().describe('costUsd in integer micro-USD'),
  unpricedRequests: z.number().int().describe('requests whose cost is unknown (not counted in costUsd)'),
});

const summarySchema = z.object({
  from: z.string(),
  to: z.string(),
  groupBy: z.enum(['day', 'provider', 'model', 'user']),
  totals: totalsSchema,
  groups: z.array(
    totalsSchema.extend({
      key: z.string().describe("the day, provider, model ('' when none was named) or user id"),
      provider: z.string().optional().describe('with groupBy=model'),
    }),
  ),
});

const csvResponse = z.string().describe('text/csv (RFC 4180)');

const limitSchema = z.object({
  limit: z.number().int().nullable(),
  remaining: z.number().int(),
  resetAt: z.string().nullable().describe('ISO 8601, null when the provider does not say'),
});
const rateLimitsSchema = z.object({
  rateLimits: z.array(
    z.object({
      provider: z.string(),
      credentialVersion: z.number().int().nullable(),
      observedAt: z.string().describe('when the provider sent these figures'),
      requests: limitSchema.optional(),
      tokens: limitSchema.optional(),
      inputTokens: limitSchema.optional(),
      outputTokens: limitSchema.optional(),
    }),
  ),
});
const bearer = [{ bearerAuth: [] }];

function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new KeyhavenError('internal', 'request reached a route unauthenticated');
  return request.principal;
}

function isoDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

export function resolveRange(
  query: { from?: string | undefined; to?: string | undefined },
  now: Date,
): { from: string; to: string } {
  const to = query.to ?? isoDay(Date.parse(`${isoDay(now.getTime())}T00:00:00Z`) + DAY_MS);
  const from = query.from ?? isoDay(Date.parse(`${to}T00:00:00Z`) - DEFAULT_RANGE_DAYS * DAY_MS);
  const result = resolvedRange.safeParse({ from, to });
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      path: `querystring.${issue.path.join('.')}`,
      message: issue.message,
    }));
    throw new KeyhavenError(
      'invalid_request',
      `invalid request: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')}`,
      { details: { issues } },
    );
  }
  return result.data;
}

function sendCsv(reply: FastifyReply, filename: string, body: string | Readable): FastifyReply {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .header('cache-control', 'no-store')
    .send(body);
}

export function registerUsageRoutes(server: FastifyInstance, context: ServiceContext): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const { usage, clock } = context;
  const db = context.keyhaven.database.db;

  // Deleting a user (DELETE /v1/users/:userId, a core route) deletes their usage too: what this instance
  // still has queued is written first, so none of it arrives after the delete.
  context.beforeUserShred.push(async (userId, request) => {
    await flushQueued(request);
    await deleteUsageOf(db, userId);
  });

  /** This instance's queued events first, so that a summary shows every call made before it. */
  async function flushQueued(request: FastifyRequest): Promise<void> {
    try {
      await usage.flush();
    } catch (error) {
      request.log.warn({ err: error }, 'usage: flush before a summary failed');
    }
  }

  async function summary(
    request: FastifyRequest,
    query: { from?: string | undefined; to?: string | undefined; groupBy: SummaryGroupBy },
    userId: string | undefined,
  ) {
    const range = resolveRange(query, clock());
    await flushQueued(request);
    const result = await summarizeUsage(db, {
      ...range,
      groupBy: query.groupBy,
      ...(userId === undefined ? {} : { userId }),
    });
    return { ...range, groupBy: query.groupBy, ...result };
  }

  app.get(
    '/v1/users/:userId/usage',
    {
      schema: {
        tags: ['usage'],
        summary: "A user's usage and cost over UTC days [from, to), grouped by day, provider or model",
        security: bearer,
        params: userParams,
        querystring: userSummaryQuery,
        response: { 200: summarySchema, ...errorResponses },
      },
    },
    async (request) => {
      requireUser(principalOf(request), request.params.userId);
      return summary(request, request.query, request.params.userId);
    },
  );

  app.get(
    '/v1/users/:userId/usage.csv',
    {
      schema: {
        tags: ['usage'],
        summary: "A user's usage summary as CSV (one line per group)",
        security: bearer,
        params: userParams,
        querystring: userSummaryQuery,
        response: { 200: csvResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireUser(principalOf(request), request.params.userId);
      const result = await summary(request, request.query, request.params.userId);
      return sendCsv(reply, `usage-${request.query.groupBy}.csv`, summaryCsv(result, request.query.groupBy));
    },
  );

  app.get(
    '/v1/users/:userId/usage/events.csv',
    {
      schema: {
        tags: ['usage'],
        summary: "A user's usage events over UTC days [from, to) as CSV, streamed",
        security: bearer,
        params: userParams,
        querystring: rangeQuery,
        response: { 200: csvResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireUser(principalOf(request), request.params.userId);
      const range = resolveRange(request.query, clock());
      await flushQueued(request);
      return sendCsv(
        reply,
        'usage-events.csv',
        Readable.from(eventsCsv(db, { ...range, userId: request.params.userId })),
      );
    },
  );

  app.get(
    '/v1/users/:userId/usage/rate-limits',
    {
      schema: {
        tags: ['usage'],
        summary: "The last upstream rate-limit headroom each provider reported for the user's credential",
        security: bearer,
        params: userParams,
        response: { 200: rateLimitsSchema, ...errorResponses },
      },
    },
    async (request) => {
      requireUser(principalOf(request), request.params.userId);
      await flushQueued(request);
      return { rateLimits: await rateLimitsOf(db, request.params.userId) };
    },
  );

  app.get(
    '/v1/usage',
    {
      schema: {
        tags: ['usage'],
        summary: 'Usage and cost of every user (admin only), grouped by day, provider, model or user',
        security: bearer,
        querystring: adminSummaryQuery,
        response: { 200: summarySchema, ...errorResponses },
      },
    },
    async (request) => {
      requireAdmin(principalOf(request));
      return summary(request, request.query, request.query.userId);
    },
  );

  app.get(
    '/v1/usage.csv',
    {
      schema: {
        tags: ['usage'],
        summary: 'The usage summary of every user as CSV (admin only)',
        security: bearer,
        querystring: adminSummaryQuery,
        response: { 200: csvResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireAdmin(principalOf(request));
      const result = await summary(request, request.query, request.query.userId);
      return sendCsv(reply, `usage-${request.query.groupBy}.csv`, summaryCsv(result, request.query.groupBy));
    },
  );

  app.get(
    '/v1/usage/events.csv',
    {
      schema: {
        tags: ['usage'],
        summary: 'Usage events of every user (or one) as CSV, streamed (admin only)',
        security: bearer,
        querystring: adminEventsQuery,
        response: { 200: csvResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireAdmin(principalOf(request));
      const range = resolveRange(request.query, clock());
      await flushQueued(request);
      const { userId } = request.query;
      return sendCsv(
        reply,
        'usage-events.csv',
        Readable.from(eventsCsv(db, { ...range, ...(userId === undefined ? {} : { userId }) })),
      );
    },
  );
}
