import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import {
  createDekCache,
  type DekCache,
  decryptRecord,
  encryptRecord,
  type Kms,
  type RecordContext,
  SecretValue,
} from '../crypto/index.ts';
import type { Tables } from '../store/index.ts';
import { createDataKeys } from '../vault/data-keys.ts';

/**
 * Webhook signing secrets at rest. Each is `whsec_<base64 of 32 random bytes>` (the form Standard
 * Webhooks libraries accept), sealed as a blob v1 record under the data key of a reserved owner no user
 * id can name, with the row's id bound into the AAD: a secret copied onto another endpoint's row does
 * not decrypt. Master-key rewrap re-wraps that data key like any user's.
 */
export const WEBHOOK_KEY_OWNER = '#webhooks';
const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

export function generateWebhookSecret(): SecretValue {
  const bytes = randomBytes(SECRET_BYTES);
  try {
    return new SecretValue(`${SECRET_PREFIX}${bytes.toString('base64')}`);
  } finally {
    bytes.fill(0);
  }
}

export interface SealedSecret {
  dekVersion: number;
  secret: Buffer;
}

export function createSecretBox({
  db,
  kms,
  tenant,
  clock,
  cache = createDekCache(),
}: {
  db: Kysely<Tables>;
  kms: Kms;
  tenant: string;
  clock: () => Date;
  cache?: DekCache;
}) {
  const dataKeys = createDataKeys({ db, kms, tenant, cache, clock });
  // kind: 'endpoint' for an endpoint's secret, 'signing' for the server-wide one; id: the row's id.
  const context = (kind: 'endpoint' | 'signing', id: string): RecordContext => ({
    tenant,
    userId: WEBHOOK_KEY_OWNER,
    credentialId: id,
    provider: `webhook-${kind}`,
    field: 'secret',
  });

  async function seal(kind: 'endpoint' | 'signing', id: string, secret: SecretValue): Promise<SealedSecret> {
    const dek = await dataKeys.forEncryption(WEBHOOK_KEY_OWNER);
    const plaintext = Buffer.from(secret.reveal(), 'utf8');
    try {
      return { dekVersion: dek.version, secret: encryptRecord(dek, plaintext, context(kind, id)) };
    } finally {
      plaintext.fill(0);
      dek.key.fill(0);
    }
  }

  async function open(kind: 'endpoint' | 'signing', id: string, sealed: SealedSecret): Promise<SecretValue> {
    const dek = await dataKeys.get(WEBHOOK_KEY_OWNER, sealed.dekVersion);
    if (!dek) throw new Error('the webhook data key is missing');
    try {
      const plaintext = decryptRecord(
        sealed.secret,
        {
          get: (version) => (version === sealed.dekVersion ? dek : undefined),
          minVersion: sealed.dekVersion,
        },
        context(kind, id),
      );
      try {
        return new SecretValue(plaintext.toString('utf8'));
      } finally {
        plaintext.fill(0);
      }
    } finally {
      dek.fill(0);
    }
  }

  return { seal, open, prune: () => cache.prune(), close: () => cache.clear() };
}

export type SecretBox = ReturnType<typeof createSecretBox>;
