import { createBoundedCache } from './bounded-cache.ts';

/**
 * A small in-memory cache of unwrapped data keys so that a reveal does not unwrap every time.
 * Bounded (least recently used goes first), entries expire after a TTL, and every key that leaves the
 * cache is zeroed. The cache owns what it holds: callers copy a key out (see vault/data-keys.ts).
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
  /** Zeroes and drops expired keys now rather than when next read. */
  prune(): void;
  clear(): void;
  readonly size: number;
}

export function createDekCache({
  maxEntries = 10_000,
  ttlMs = 5 * 60_000,
  now = Date.now,
}: DekCacheOptions = {}): DekCache {
  const cache = createBoundedCache<string, { userId: string; key: Buffer }>({
    maxEntries,
    ttlMs,
    now,
    onEvict: (entry) => entry.key.fill(0),
  });
  // Version first: it cannot contain ':', so no two (user, version) pairs share a cache key.
  const id = (userId: string, version: number) => `${version}:${userId}`;
  return {
    get: (userId, version) => cache.get(id(userId, version))?.key,
    set(userId, version, key) {
      const cacheKey = id(userId, version);
      const existing = cache.get(cacheKey);
      // The same buffer again is a use, not a replacement: keep the entry so its key is not zeroed.
      cache.set(cacheKey, existing?.key === key ? existing : { userId, key });
    },
    deleteUser: (userId) => cache.deleteWhere((_, entry) => entry.userId === userId),
    prune: () => cache.prune(),
    clear: () => cache.clear(),
    get size() {
      return cache.size;
    },
  };
}
