/**
 * A small in-memory cache of unwrapped data keys so that a reveal does not unwrap every time.
 * Bounded (least recently used goes first), entries expire after a TTL, and every key that leaves the
 * cache is zeroed. Callers use a cached key synchronously and never keep or zero it themselves.
 */
export interface DekCacheOptions {
  maxEntries?: number;
  ttlMs?: number;
  now?: () => number;
}

export interface DekCache {
  get(userId: string, version: number): Buffer | undefined;
  set(userId: string, version: number, key: Buffer): void;
  /** Drops (and zeroes) every cached key of a user. */
  deleteUser(userId: string): void;
  clear(): void;
  readonly size: number;
}

interface Entry {
  userId: string;
  key: Buffer;
  expiresAt: number;
}

export function createDekCache({
  maxEntries = 10_000,
  ttlMs = 5 * 60_000,
  now = Date.now,
}: DekCacheOptions = {}): DekCache {
  const entries = new Map<string, Entry>();
  const id = (userId: string, version: number) => `${version}:${userId}`;
  const drop = (cacheKey: string, entry: Entry) => {
    entries.delete(cacheKey);
    entry.key.fill(0);
  };

  return {
    get(userId, version) {
      const cacheKey = id(userId, version);
      const entry = entries.get(cacheKey);
      if (!entry) return undefined;
      if (entry.expiresAt <= now()) {
        drop(cacheKey, entry);
        return undefined;
      }
      entries.delete(cacheKey);
      entries.set(cacheKey, entry);
      return entry.key;
    },
    set(userId, version, key) {
      if (maxEntries <= 0 || ttlMs <= 0) {
        key.fill(0);
        return;
      }
      const cacheKey = id(userId, version);
      const previous = entries.get(cacheKey);
      if (previous && previous.key !== key) drop(cacheKey, previous);
      // Map.set keeps an existing key's place: delete first so a re-set entry becomes the most recent.
      entries.delete(cacheKey);
      entries.set(cacheKey, { userId, key, expiresAt: now() + ttlMs });
      while (entries.size > maxEntries) {
        const oldest = entries.entries().next().value;
        if (!oldest) break;
        drop(oldest[0], oldest[1]);
      }
    },
    deleteUser(userId) {
      for (const [cacheKey, entry] of entries) if (entry.userId === userId) drop(cacheKey, entry);
    },
    clear() {
      for (const [cacheKey, entry] of entries) drop(cacheKey, entry);
    },
    get size() {
      return entries.size;
    },
  };
}
