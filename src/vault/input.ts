import { z } from 'zod';
import { KeyhavenError } from '../errors.ts';
import type { CredentialCatalog, CredentialFields, CredentialSpec } from '../providers/credentials.ts';

/** Input checks at the vault's edge. Messages describe the rule and never echo the value. */
export const userIdSchema = z
  .string({ error: 'userId must be a string' })
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/,
    'userId must be 1-128 characters of letters, digits and . _ : @ + -',
  );

export const credentialIdSchema = z
  .string({ error: 'credentialId must be a string' })
  .regex(/^cred_[0-9a-f]{24}$/, 'credentialId must look like cred_<24 hex digits>');

export const purposeSchema = z
  .string({ error: 'purpose must be a string' })
  .regex(/^[a-z][a-z0-9_.:-]{0,63}$/, 'purpose must be 1-64 lower-case characters, such as "proxy"');

export const holderSchema = z
  .string({ error: 'holder must be a string' })
  .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'holder must be 1-128 characters of letters, digits and _ . : -');

export const actorSchema = z
  .string({ error: 'actor must be a string' })
  .regex(/^[\x21-\x7e]{1,128}$/, 'actor must be 1-128 printable characters without spaces');

export const reasonSchema = z.string().trim().min(1).max(500);

function issues(error: z.ZodError) {
  return error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = issues(result.error);
  throw new KeyhavenError('invalid_request', `${what}: ${details.map((issue) => issue.message).join('; ')}`, {
    details: { issues: details },
  });
}

export function credentialSpec(catalog: CredentialCatalog, provider: unknown): CredentialSpec {
  const spec = typeof provider === 'string' ? catalog.get(provider) : undefined;
  if (!spec) {
    throw new KeyhavenError('unknown_provider', 'unknown provider', {
      details: { supported: [...catalog.providers()] },
    });
  }
  return spec;
}

export function parseCredentials(spec: CredentialSpec, credentials: unknown): CredentialFields {
  if (credentials === null || typeof credentials !== 'object' || Array.isArray(credentials)) {
    throw new KeyhavenError('invalid_request', `credentials for ${spec.provider} must be an object`);
  }
  return parse(spec.schema, credentials, `invalid credentials for ${spec.provider}`);
}
