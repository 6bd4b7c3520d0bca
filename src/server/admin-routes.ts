import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import { microToUsdNumber } from '../usage/index.ts';
import { userIdSchema } from '../vault/input.ts';
import { videoJobSchema } from '../videos/index.ts';
import { requireAdmin } from './auth.ts';
import type { ServiceContext } from './context.ts';
import { errorResponses } from './schemas.ts';
import { day, resolveRange } from './usage-routes.ts';

/**
 * Admin views over every user, for the dashboard: /v1/admin/overview, /v1/admin/users,
 * /v1/admin/usage/daily and /v1/admin/videos. Keyhaven has no users table: a user is any id that owns a
 * credential, a token, a video job or usage.
 */
const bearer = [{ bearerAuth: [] }];
const timestamp = z.string().describe('ISO 8601 date and time');

const credentialCountsSchema = z.object({
  total: z.number().int(),
  valid: z.number().int(),
  invalid: z.number().int(),
  unverified: z.number().int(),
});

const overviewSchema = z.object({
  users: z.number().int(),
  activeTokens: z.number().int().describe('user tokens neither expired nor revoked'),
  credentials: credentialCountsSchema.extend({
    byProvider: z.array(credentialCountsSchema.extend({ provider: z.string() })),
  }),
  month: z
    .object({
      from: z.string(),
      to: z.string(),
      requests: z.number().int(),
      costUsd: z.number().describe('priced requests only'),
      unpricedRequests: z.number().int(),
    })
    .describe('usage of the current UTC calendar month'),
  videos: z.object({
    queued: z.number().int(),
    running: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    canceled: z.number().int(),
  }),
  webhookDeliveries: z.object({
    pending: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
  }),
});

const usersQuery = z.object({
  search: z.string().max(128).optional().describe('part of the user id, case-insensitive'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const userRowSchema = z.object({
  userId: z.string(),
  credentials: z.number().int().describe('providers connected'),
  invalidCredentials: z.number().int(),
  videos: z.number().int(),
  monthRequests: z.number().int(),
  monthCostUsd: z.number(),
  lastActivityAt: timestamp.nullable().describe('last credential change, use or video job'),
});

const dailyQuery = z.object({
  from: day.optional().describe('first day included (UTC, YYYY-MM-DD); default: 30 days before `to`'),
  to: day.optional().describe('first day excluded (UTC, YYYY-MM-DD); default: tomorrow'),
  userId: userIdSchema.optional().describe('only this user'),
});

const dailyRowSchema = z.object({
  day: z.string(),
  provider: z.string(),
  model: z.string().describe("'' when the call named no model"),
  requests: z.number().int(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  videoSeconds: z.number(),
  images: z.number().int(),
  costUsd: z.number(),
  unpricedRequests: z.number().int(),
});

const videosQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']).optional(),
  userId: userIdSchema.optional(),
});

function admin(request: FastifyRequest): void {
  if (!request.principal) throw new KeyhavenError('internal', 'request reached a route unauthenticated');
  requireAdmin(request.principal);
}

function monthRange(now: Date): { from: string; to: string } {
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
}

const count = (value: unknown) => Number(value ?? 0);

export function registerAdminRoutes(server: FastifyInstance, context: ServiceContext): void {
  const db = context.keyhaven.database.db;
  const { clock, usage } = context;

  /** Queued usage of this instance first, so the figures include every call made before the request. */
  async function flushUsage(request: FastifyRequest): Promise<void> {
    try {
      await usage.flush();
    } catch (error) {
      request.log.warn({ err: error }, 'usage: flush before an admin view failed');
    }
  }

  const userIds = sql`(
    select user_id from credentials
    union select user_id from tokens where kind = 'user' and user_id is not null
    union select user_id from video_jobs
    union select user_id from usage_daily
  )`;

  // To a user token these routes do not exist, whatever it sends: checked before validation.
  server.register(async (scope) => {
    scope.addHook('preValidation', async (request) => admin(request));
    const app = scope.withTypeProvider<ZodTypeProvider>();

    app.get(
      '/v1/admin/overview',
      {
        schema: {
          tags: ['admin'],
          summary:
            'Counts for the dashboard: users, credentials by status, usage this month, jobs (admin only)',
          security: bearer,
          response: { 200: overviewSchema, ...errorResponses },
        },
      },
      async (request) => {
        await flushUsage(request);
        const now = clock();
        const month = monthRange(now);
        const [users, tokens, credentials, usageRow, videos, deliveries] = await Promise.all([
          sql<{ count: string }>`select count(*) as count from ${userIds} as ids`.execute(db),
          db
            .selectFrom('tokens')
            .select(sql<string>`count(*)`.as('count'))
            .where('kind', '=', 'user')
            .where('revoked_at', 'is', null)
            .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
            .executeTakeFirst(),
          db
            .selectFrom('credentials')
            .select(['provider', 'status', sql<string>`count(*)`.as('count')])
            .where('is_current', '=', true)
            .groupBy(['provider', 'status'])
            .orderBy('provider')
            .execute(),
          sql<{ requests: string | null; cost: string | null; unpriced: string | null }>`
            select sum(requests) as requests, sum(cost_micro_usd) as cost, sum(unpriced_requests) as unpriced
            from usage_daily where day >= ${month.from}::date and day < ${month.to}::date
          `.execute(db),
          db
            .selectFrom('video_jobs')
            .select(['status', sql<string>`count(*)`.as('count')])
            .groupBy('status')
            .execute(),
          db
            .selectFrom('webhook_deliveries')
            .select(['status', sql<string>`count(*)`.as('count')])
            .groupBy('status')
            .execute(),
        ]);
        const byProvider = new Map<string, z.infer<typeof credentialCountsSchema>>();
        const totals = { total: 0, valid: 0, invalid: 0, unverified: 0 };
        for (const row of credentials) {
          const entry = byProvider.get(row.provider) ?? { total: 0, valid: 0, invalid: 0, unverified: 0 };
          entry[row.status] += count(row.count);
          entry.total += count(row.count);
          totals[row.status] += count(row.count);
          totals.total += count(row.count);
          byProvider.set(row.provider, entry);
        }
        const videoCounts = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
        for (const row of videos) videoCounts[row.status] = count(row.count);
        const deliveryCounts = { pending: 0, succeeded: 0, failed: 0 };
        for (const row of deliveries) {
          if (row.status in deliveryCounts) deliveryCounts[row.status] = count(row.count);
        }
        const monthUsage = usageRow.rows[0];
        return {
          users: count(users.rows[0]?.count),
          activeTokens: count(tokens?.count),
          credentials: {
            ...totals,
            byProvider: [...byProvider].map(([provider, entry]) => ({ provider, ...entry })),
          },
          month: {
            ...month,
            requests: count(monthUsage?.requests),
            costUsd: microToUsdNumber(count(monthUsage?.cost)),
            unpricedRequests: count(monthUsage?.unpriced),
          },
          videos: videoCounts,
          webhookDeliveries: deliveryCounts,
        };
      },
    );

    app.get(
      '/v1/admin/users',
      {
        schema: {
          tags: ['admin'],
          summary:
            'Every user (anyone with a credential, token, video job or usage), searchable (admin only)',
          security: bearer,
          querystring: usersQuery,
          response: {
            200: z.object({ users: z.array(userRowSchema), total: z.number().int() }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        await flushUsage(request);
        const { search, limit, offset } = request.query;
        const month = monthRange(clock());
        // position() rather than LIKE: the search text is matched literally, % and _ included.
        const matches =
          search === undefined || search === ''
            ? sql`true`
            : sql`position(lower(${search}) in lower(ids.user_id)) > 0`;
        const [rows, total] = await Promise.all([
          sql<{
            user_id: string;
            credentials: string;
            invalid_credentials: string;
            videos: string;
            month_requests: string | null;
            month_cost: string | null;
            last_activity_at: Date | string | null;
          }>`
            select ids.user_id,
              (select count(*) from credentials c where c.user_id = ids.user_id and c.is_current) as credentials,
              (select count(*) from credentials c
                where c.user_id = ids.user_id and c.is_current and c.status = 'invalid') as invalid_credentials,
              (select count(*) from video_jobs v where v.user_id = ids.user_id) as videos,
              (select sum(requests) from usage_daily u
                where u.user_id = ids.user_id and u.day >= ${month.from}::date and u.day < ${month.to}::date)
                as month_requests,
              (select sum(cost_micro_usd) from usage_daily u
                where u.user_id = ids.user_id and u.day >= ${month.from}::date and u.day < ${month.to}::date)
                as month_cost,
              greatest(
                (select max(greatest(c.updated_at, coalesce(c.last_used_at, c.updated_at)))
                  from credentials c where c.user_id = ids.user_id),
                (select max(v.updated_at) from video_jobs v where v.user_id = ids.user_id)
              ) as last_activity_at
            from ${userIds} as ids
            where ${matches}
            order by ids.user_id
            limit ${limit} offset ${offset}
          `.execute(db),
          sql<{ count: string }>`select count(*) as count from ${userIds} as ids where ${matches}`.execute(
            db,
          ),
        ]);
        return {
          total: count(total.rows[0]?.count),
          users: rows.rows.map((row) => ({
            userId: row.user_id,
            credentials: count(row.credentials),
            invalidCredentials: count(row.invalid_credentials),
            videos: count(row.videos),
            monthRequests: count(row.month_requests),
            monthCostUsd: microToUsdNumber(count(row.month_cost)),
            lastActivityAt:
              row.last_activity_at === null ? null : new Date(row.last_activity_at).toISOString(),
          })),
        };
      },
    );

    app.get(
      '/v1/admin/usage/daily',
      {
        schema: {
          tags: ['admin'],
          summary: 'Usage per UTC day, provider and model over [from, to), for charts (admin only)',
          security: bearer,
          querystring: dailyQuery,
          response: {
            200: z.object({ from: z.string(), to: z.string(), rows: z.array(dailyRowSchema) }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const range = resolveRange(request.query, clock());
        await flushUsage(request);
        const { userId } = request.query;
        const result = await sql<{
          day: string;
          provider: string;
          model: string;
          requests: string;
          input_tokens: string;
          output_tokens: string;
          video_seconds: number | string;
          images: string;
          cost_micro_usd: string;
          unpriced_requests: string;
        }>`
          select to_char(day, 'YYYY-MM-DD') as day, provider, model,
            sum(requests) as requests, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
            sum(video_seconds) as video_seconds, sum(images) as images,
            sum(cost_micro_usd) as cost_micro_usd, sum(unpriced_requests) as unpriced_requests
          from usage_daily
          where ${userId === undefined ? sql`true` : sql`user_id = ${userId}`}
            and day >= ${range.from}::date and day < ${range.to}::date
          group by 1, 2, 3
          order by 1, 2, 3
        `.execute(db);
        return {
          ...range,
          rows: result.rows.map((row) => ({
            day: row.day,
            provider: row.provider,
            model: row.model,
            requests: count(row.requests),
            inputTokens: count(row.input_tokens),
            outputTokens: count(row.output_tokens),
            videoSeconds: count(row.video_seconds),
            images: count(row.images),
            costUsd: microToUsdNumber(count(row.cost_micro_usd)),
            unpricedRequests: count(row.unpriced_requests),
          })),
        };
      },
    );

    app.get(
      '/v1/admin/videos',
      {
        schema: {
          tags: ['admin'],
          summary: "Every user's video jobs with their attempts, newest first (admin only)",
          security: bearer,
          querystring: videosQuery,
          response: {
            200: z.object({ jobs: z.array(videoJobSchema), nextCursor: z.string().nullable() }),
            ...errorResponses,
          },
        },
      },
      async (request) => {
        const { limit, cursor, status, userId } = request.query;
        return context.videos.list(userId, { limit, cursor, status });
      },
    );
  });
}
