import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import { requireUser } from './auth.ts';
import type { ServiceContext } from './context.ts';
import { errorResponses, userParams } from './schemas.ts';

/**
 * A user's monthly budget: /v1/users/:userId/budget (PUT sets or replaces it, GET reads it with this
 * month's spent and reserved figures, DELETE removes it). The owner's token or the admin token.
 */
const bearer = [{ bearerAuth: [] }];

export const budgetBodySchema = z.strictObject({
  amountUsd: z
    .number()
    .positive('amountUsd must be more than 0')
    .max(1_000_000_000, 'amountUsd must be at most 1000000000')
    .refine((value) => Math.round(value * 1_000_000) > 0, 'amountUsd must be at least 0.000001')
    .describe('the monthly amount in USD (UTC calendar months)'),
  thresholds: z
    .array(z.number().int('each threshold must be a whole percentage').min(1).max(1000))
    .max(20, 'at most 20 thresholds')
    .refine((values) => new Set(values).size === values.length, 'thresholds must not repeat')
    .default([50, 80, 100])
    .describe('percentages of the amount that send budget.threshold, once each per month'),
  mode: z
    .enum(['hard', 'soft'])
    .default('hard')
    .describe('hard: calls are refused (402 budget_exceeded) once the budget is used up; soft: alerts only'),
});

const budgetSchema = z.object({
  userId: z.string(),
  amountUsd: z.number(),
  thresholds: z.array(z.number().int()),
  mode: z.enum(['hard', 'soft']),
  month: z.string().describe('the current UTC month, YYYY-MM'),
  periodStart: z.string(),
  periodEnd: z.string().describe('excluded'),
  spentUsd: z.number().describe('settled cost of this month'),
  reservedUsd: z.number().describe('upper-bound estimates of the calls and video jobs in progress'),
  remainingUsd: z.number(),
  amountMicroUsd: z.number().int(),
  spentMicroUsd: z.number().int(),
  reservedMicroUsd: z.number().int(),
  exhausted: z.boolean().describe('spent + reserved has reached the amount'),
  createdAt: z.string(),
  updatedAt: z.string(),
});

function forUser(request: FastifyRequest, userId: string): void {
  if (!request.principal) throw new KeyhavenError('internal', 'request reached a route unauthenticated');
  requireUser(request.principal, userId);
}

export function registerBudgetRoutes(server: FastifyInstance, context: ServiceContext): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const { budgets } = context;

  // Deleting a user (DELETE /v1/users/:userId, a core route) removes their budget and its figures too.
  context.beforeUserShred.push(async (userId) => {
    await budgets.remove(userId);
  });

  app.put(
    '/v1/users/:userId/budget',
    {
      schema: {
        tags: ['budgets'],
        summary: "Set or replace the user's monthly budget (USD, thresholds in percent, hard or soft)",
        security: bearer,
        params: userParams,
        body: budgetBodySchema,
        response: { 200: budgetSchema, ...errorResponses },
      },
    },
    async (request) => {
      forUser(request, request.params.userId);
      return budgets.set(request.params.userId, request.body);
    },
  );

  app.get(
    '/v1/users/:userId/budget',
    {
      schema: {
        tags: ['budgets'],
        summary: "The user's monthly budget with this month's spent and reserved figures",
        security: bearer,
        params: userParams,
        response: { 200: budgetSchema, ...errorResponses },
      },
    },
    async (request) => {
      forUser(request, request.params.userId);
      return budgets.get(request.params.userId);
    },
  );

  app.delete(
    '/v1/users/:userId/budget',
    {
      schema: {
        tags: ['budgets'],
        summary: "Remove the user's budget (calls are no longer limited by it)",
        security: bearer,
        params: userParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      forUser(request, request.params.userId);
      if (!(await budgets.remove(request.params.userId))) {
        throw new KeyhavenError('not_found', 'no budget is set for this user');
      }
      return reply.code(204).send(null);
    },
  );
}
