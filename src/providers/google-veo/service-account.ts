import { z } from 'zod';
import { UpstreamError } from '../upstream-error.ts';

/**
 * A Google service-account key file, read from the credential when a request is made. Nothing here
 * ever puts the file's text or its private key in a message: a JSON parse error would quote the
 * text, so parse errors are replaced by a message that only names the field.
 */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** Project ids (`my-project-123`), numbers, and domain-scoped ids (`example.com:my-project`). */
const PROJECT_ID = /^[a-z0-9][a-z0-9.:-]{0,127}$/;

export interface ServiceAccount {
  clientEmail: string;
  privateKey: string;
  privateKeyId: string | undefined;
  projectId: string;
  tokenURL: string;
}

const keyFileSchema = z.object({
  type: z.literal('service_account'),
  client_email: z.string().min(3).max(320),
  private_key: z.string().includes('PRIVATE KEY'),
  private_key_id: z.string().max(200).optional(),
  project_id: z.string().regex(PROJECT_ID),
  token_uri: z.string().max(2000).optional(),
});

function refuse(message: string): UpstreamError {
  return new UpstreamError({ provider: 'google-veo', kind: 'authentication', message });
}

export function parseServiceAccount(text: string): ServiceAccount {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refuse('serviceAccount is not a JSON service account key file');
  }
  const result = keyFileSchema.safeParse(parsed);
  if (!result.success) {
    const fields = [...new Set(result.error.issues.map((issue) => issue.path.join('.') || 'serviceAccount'))];
    throw refuse(`serviceAccount key file: missing or invalid ${fields.join(', ')}`);
  }
  const file = result.data;
  return {
    clientEmail: file.client_email,
    privateKey: file.private_key,
    privateKeyId: file.private_key_id || undefined,
    projectId: file.project_id,
    tokenURL: file.token_uri || GOOGLE_TOKEN_URL,
  };
}

/**
 * Every form the private key could be echoed in: as PEM, JSON-escaped (inside a key file), as one
 * base64 run, and line by line (a truncated echo still shows whole lines).
 */
export function serviceAccountSecrets(account: ServiceAccount): string[] {
  const body = account.privateKey.replace(/-----[A-Z ]+-----/g, '');
  const lines = body
    .split(/\\n|\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length >= 16);
  return [
    account.privateKey,
    JSON.stringify(account.privateKey).slice(1, -1),
    body.replace(/\\n|\s/g, ''),
    ...lines,
  ];
}
