import { z } from 'zod';

/**
 * What each provider's credential looks like: its fields (zod), which of them are secret, and which
 * string the masked key is cut from. The providers' full contract builds on these shapes.
 */
export const MAX_SECRET_BYTES = 8 * 1024;

export type CredentialFields = Record<string, string>;

export interface CredentialSpec {
  provider: string;
  schema: z.ZodType<CredentialFields>;
  secretFields: readonly string[];
  /** The string whose last characters the masked key shows. */
  maskSource(fields: CredentialFields): string;
}

export interface CredentialCatalog {
  get(provider: string): CredentialSpec | undefined;
  providers(): readonly string[];
}

const secret = (label: string) =>
  z
    .string({ error: `${label} must be a string` })
    .trim()
    .min(1, `${label} must not be empty`)
    .refine((value) => Buffer.byteLength(value) <= MAX_SECRET_BYTES, `${label} must be at most 8 KiB`);

const identifier = (label: string) =>
  z
    .string({ error: `${label} must be a string` })
    .trim()
    .min(1, `${label} must not be empty`)
    .max(256, `${label} must be at most 256 characters`);

const apiKeyOnly = z.strictObject({ apiKey: secret('apiKey') });

const apiKeyWithOrganization = z.strictObject({
  apiKey: secret('apiKey'),
  organization: identifier('organization').optional(),
}) as z.ZodType<CredentialFields>;

const serviceAccountJson = secret('serviceAccount').superRefine((value, context) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    context.addIssue({ code: 'custom', message: 'serviceAccount must be the service account JSON key file' });
    return;
  }
  const shape = z.object({
    type: z.literal('service_account'),
    client_email: z.string().min(1),
    private_key: z.string().includes('PRIVATE KEY'),
    project_id: z.string().min(1),
  });
  if (!shape.safeParse(parsed).success) {
    context.addIssue({
      code: 'custom',
      message:
        'serviceAccount must be a service_account JSON key with client_email, private_key and project_id',
    });
  }
});

function spec(
  provider: string,
  schema: z.ZodType<CredentialFields>,
  secretFields: readonly string[] = ['apiKey'],
  maskSource: (fields: CredentialFields) => string = (fields) => fields.apiKey ?? '',
): CredentialSpec {
  return { provider, schema, secretFields, maskSource };
}

function serviceAccountMask(fields: CredentialFields): string {
  if (fields.apiKey) return fields.apiKey;
  try {
    const parsed = JSON.parse(fields.serviceAccount ?? '{}') as { private_key_id?: unknown };
    return typeof parsed.private_key_id === 'string' ? parsed.private_key_id : '';
  } catch {
    return '';
  }
}

export const builtInCredentialSpecs: readonly CredentialSpec[] = [
  spec(
    'openai',
    z.strictObject({
      apiKey: secret('apiKey'),
      organization: identifier('organization').optional(),
      project: identifier('project').optional(),
    }) as z.ZodType<CredentialFields>,
  ),
  spec('anthropic', apiKeyOnly),
  spec('google-gemini', apiKeyOnly),
  spec(
    'google-veo',
    z.union([
      apiKeyOnly,
      z.strictObject({ serviceAccount: serviceAccountJson, location: identifier('location').optional() }),
    ]) as z.ZodType<CredentialFields>,
    ['apiKey', 'serviceAccount'],
    serviceAccountMask,
  ),
  spec('runway', apiKeyWithOrganization),
  spec('stability', apiKeyWithOrganization),
  spec('luma', apiKeyOnly),
  spec('mistral', apiKeyOnly),
];

export function createCredentialCatalog(
  specs: readonly CredentialSpec[] = builtInCredentialSpecs,
): CredentialCatalog {
  const byId = new Map(specs.map((entry) => [entry.provider, entry]));
  const ids = [...byId.keys()];
  return { get: (provider) => byId.get(provider), providers: () => ids };
}

/** The built-in credential spec of a provider; a missing one is a bug in this table. */
export function builtInCredentialSpec(provider: string): CredentialSpec {
  const spec = builtInCredentialSpecs.find((candidate) => candidate.provider === provider);
  if (!spec) throw new Error(`no built-in credential spec for ${provider}`);
  return spec;
}
