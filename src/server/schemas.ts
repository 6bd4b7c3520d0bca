import { z } from 'zod';
import type { CredentialSummary } from '../vault/index.ts';
import { userIdSchema } from '../vault/input.ts';
import {
  USER_TOKEN_DEFAULT_TTL_SECONDS,
  USER_TOKEN_MAX_TTL_SECONDS,
  USER_TOKEN_MIN_TTL_SECONDS,
} from './auth.ts';
import { errorBodySchema } from './errors.ts';

/**
 * Request and response schemas of the API. Response schemas list every field that may leave the server,
 * so a secret can only reach a client if someone adds it here.
 */
export const providerIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,63}$/, 'provider must be a provider id such as openai');

export const userParams = z.object({ userId: userIdSchema });
export const credentialParams = z.object({ userId: userIdSchema, provider: providerIdSchema });
export const tokenParams = z.object({
  tokenId: z.string().regex(/^khu_[0-9a-f]{24}$/, 'tokenId must look like khu_<24 hex digits>'),
});

const timestamp = z.string().describe('ISO 8601 date and time');

export const credentialSummarySchema = z.object({
  provider: z.string(),
  connected: z.boolean(),
  credentialId: z.string().nullable(),
  status: z.enum(['valid', 'invalid', 'unverified']).nullable(),
  statusReason: z.string().nullable(),
  maskedKey: z.string().nullable(),
  fingerprint: z.string().nullable(),
  version: z.number().int().nullable(),
  createdAt: timestamp.nullable(),
  updatedAt: timestamp.nullable(),
  lastValidatedAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable(),
});

export type CredentialSummaryBody = z.infer<typeof credentialSummarySchema>;

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

export function summaryBody(summary: CredentialSummary): CredentialSummaryBody {
  return {
    provider: summary.provider,
    connected: summary.connected,
    credentialId: summary.credentialId,
    status: summary.status,
    statusReason: summary.statusReason,
    maskedKey: summary.maskedKey,
    fingerprint: summary.fingerprint,
    version: summary.version,
    createdAt: iso(summary.createdAt),
    updatedAt: iso(summary.updatedAt),
    lastValidatedAt: iso(summary.lastValidatedAt),
    lastUsedAt: iso(summary.lastUsedAt),
  };
}

export const storeCredentialBody = z.object({
  credentials: z
    .record(z.string(), z.unknown())
    .describe("the provider's credential fields, as listed by GET /v1/providers"),
  validate: z.boolean().default(true).describe('check the credential with the provider before storing it'),
});

export const testResultSchema = z.object({
  result: z.discriminatedUnion('status', [
    z.object({ status: z.literal('valid') }),
    z.object({ status: z.literal('invalid'), reason: z.string() }),
    z.object({ status: z.literal('unreachable'), reason: z.string().optional() }),
    z.object({ status: z.literal('rate_limited'), retryAfterMs: z.number().optional() }),
  ]),
  summary: credentialSummarySchema,
});

export const mintTokenBody = z
  .object({
    ttlSeconds: z
      .number()
      .int()
      .min(USER_TOKEN_MIN_TTL_SECONDS)
      .max(USER_TOKEN_MAX_TTL_SECONDS)
      .default(USER_TOKEN_DEFAULT_TTL_SECONDS),
  })
  .default({ ttlSeconds: USER_TOKEN_DEFAULT_TTL_SECONDS });

export const mintedTokenSchema = z.object({
  id: z.string(),
  token: z.string().describe('shown once: only its hash is stored'),
  userId: z.string(),
  createdAt: timestamp,
  expiresAt: timestamp,
});

const statusSchema = z.discriminatedUnion('state', [
  z.object({ state: z.literal('available') }),
  z.object({ state: z.literal('retired'), date: z.string(), reason: z.string() }),
]);

export const providerInfoSchema = z.object({
  id: z.string(),
  displayName: z.string(),
  description: z.string(),
  icon: z.string().describe('an SVG image'),
  credentialFields: z
    .array(
      z.object({
        name: z.string(),
        label: z.string(),
        secret: z.boolean(),
        optional: z.boolean(),
        description: z.string().optional(),
      }),
    )
    .readonly(),
  capabilities: z.record(z.string(), z.unknown()),
  defaultRateLimits: z.record(z.string(), z.unknown()),
  status: statusSchema,
  models: z.array(z.object({ id: z.string(), kind: z.string(), priced: z.boolean() })),
});

export const auditQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  afterSeq: z
    .string()
    .regex(/^[0-9]{1,19}$/, 'afterSeq must be a sequence number')
    .optional(),
  userId: userIdSchema.optional(),
});

export const auditEventSchema = z.object({
  seq: z.string(),
  occurredAt: timestamp,
  action: z.string(),
  actor: z.string(),
  userId: z.string().nullable(),
  provider: z.string().nullable(),
  credentialId: z.string().nullable(),
  purpose: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
  hash: z.string(),
});

export const auditVerificationSchema = z.union([
  z.object({ ok: z.literal(true), count: z.number(), headSeq: z.string().nullable(), headHash: z.string() }),
  z.object({ ok: z.literal(false), count: z.number(), brokenSeq: z.string(), reason: z.string() }),
]);

/** The error statuses every authenticated route can answer with, for the OpenAPI document. */
export const errorResponses = {
  400: errorBodySchema,
  401: errorBodySchema,
  404: errorBodySchema,
  500: errorBodySchema,
} as const;
