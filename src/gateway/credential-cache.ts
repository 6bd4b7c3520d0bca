import { type BoundedCache, createBoundedCache } from '../crypto/index.ts';
import type { InvalidationMessage, Vault } from '../vault/index.ts';

/**
 * Decrypted credentials of this instance, kept for a few seconds so a busy stream of calls does not
 * decrypt (and audit) once per request. Values are held as Buffers, never strings, so that eviction
 * (TTL, size bound, invalidation, close) can zero them. A change to a credential, here or on another
 * instance (the vault relays PostgreSQL NOTIFY), drops the entry at once.
 */
export interface CachedCredential {
  credentialId: string;
  version: number;
  /** Field name -> value bytes. Read with fieldsOf() right before injecting, never kept elsewhere. */
  fields: ReadonlyMap<string, Buffer>;
}

export interface CredentialCacheOptions {
  vault: Pick<Vault, 'reveal' | 'onInvalidate'>;
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

function zero(credential: CachedCredential): void {
  for (const value of credential.fields.values()) value.fill(0);
}

export function createCredentialCache({
  vault,
  ttlMs = 5_000,
  maxEntries = 10_000,
  now = Date.now,
}: CredentialCacheOptions) {
  const entries: BoundedCache<string, CachedCredential> = createBoundedCache({
    maxEntries,
    ttlMs,
    onEvict: zero,
    now,
  });
  // Bumped by every invalidation: a reveal that started before one must not cache what it read.
  let generation = 0;
  const keyOf = (userId: string, provider: string) => `${userId}|${provider}`;
  vault.onInvalidate((message: InvalidationMessage) => {
    generation += 1;
    if (message.type === 'reset') entries.clear();
    else if (message.provider !== undefined) entries.delete(keyOf(message.userId, message.provider));
    else entries.deleteWhere((key) => key.startsWith(`${message.userId}|`));
  });
  const timer = setInterval(() => entries.prune(), 1_000);
  timer.unref();

  return {
    /**
     * The user's current credential for the provider, as plaintext fields for the caller to inject
     * immediately (the cached bytes may be zeroed by an eviction at any later point).
     */
    async get(
      userId: string,
      provider: string,
    ): Promise<{ credentialId: string; version: number; fields: Record<string, string> }> {
      const key = keyOf(userId, provider);
      let entry = entries.get(key);
      if (!entry) {
        const seen = generation;
        const revealed = await vault.reveal({ userId, provider, purpose: 'proxy', actor: 'gateway' });
        const fields = new Map<string, Buffer>();
        for (const [name, value] of Object.entries(revealed.credentials)) {
          fields.set(name, Buffer.from(value.reveal(), 'utf8'));
        }
        entry = { credentialId: revealed.credentialId, version: revealed.version, fields };
        const fresh = fieldsOf(entry);
        if (seen === generation) entries.set(key, entry);
        else zero(entry);
        return { credentialId: revealed.credentialId, version: revealed.version, fields: fresh };
      }
      return { credentialId: entry.credentialId, version: entry.version, fields: fieldsOf(entry) };
    },
    /** Drops an entry (after the provider refused its key, for example). */
    forget(userId: string, provider: string): void {
      entries.delete(keyOf(userId, provider));
    },
    get size() {
      return entries.size;
    },
    close(): void {
      clearInterval(timer);
      entries.clear();
    },
  };
}

function fieldsOf(entry: CachedCredential): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of entry.fields) fields[name] = value.toString('utf8');
  return fields;
}

export type CredentialCache = ReturnType<typeof createCredentialCache>;
