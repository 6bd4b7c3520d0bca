/**
 * A bounded in-memory cache for key material: least recently used entries go first, entries expire
 * after a TTL, and every value that leaves the cache is handed to onEvict (which zeroes it).
 */
export interface BoundedCacheOptions<V> {
  maxEntries: number;
  ttlMs: number;
  onEvict: (value: V) => void;
  now?: () => number;
}

export interface BoundedCache<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  deleteWhere(predicate: (key: K, value: V) => boolean): void;
  /** Evicts every expired entry now, rather than when it is next read. */
  prune(): void;
  clear(): void;
  readonly size: number;
}

export function createBoundedCache<K, V>({
  maxEntries,
  ttlMs,
  onEvict,
  now = Date.now,
}: BoundedCacheOptions<V>): BoundedCache<K, V> {
  // Map order is the recency order. `placed` counts placements (sets and moves to the newest end): an
  // entry placed fewer than half the capacity ago is far from eviction and a read leaves it where it is,
  // which spares the delete and re-insert on the reads of a few hot keys (every gateway call).
  const entries = new Map<K, { value: V; expiresAt: number; placed: number }>();
  let placed = 0;
  const recentSpan = Math.max(1, Math.floor(maxEntries / 2));
  const drop = (key: K) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    onEvict(entry.value);
  };
  return {
    get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= now()) {
        drop(key);
        return undefined;
      }
      if (placed - entry.placed >= recentSpan) {
        entries.delete(key);
        placed += 1;
        entry.placed = placed;
        entries.set(key, entry);
      }
      return entry.value;
    },
    set(key, value) {
      if (maxEntries <= 0 || ttlMs <= 0) {
        onEvict(value);
        return;
      }
      const previous = entries.get(key);
      if (previous && previous.value !== value) drop(key);
      // Map keeps an existing key's place: delete first so a re-set entry becomes the most recent.
      entries.delete(key);
      placed += 1;
      entries.set(key, { value, expiresAt: now() + ttlMs, placed });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        drop(oldest.value);
      }
    },
    delete: drop,
    deleteWhere(predicate) {
      for (const [key, entry] of entries) if (predicate(key, entry.value)) drop(key);
    },
    prune() {
      const time = now();
      for (const [key, entry] of entries) if (entry.expiresAt <= time) drop(key);
    },
    clear() {
      for (const key of [...entries.keys()]) drop(key);
    },
    get size() {
      return entries.size;
    },
  };
}

/** A copy of key material in its own (never pooled) buffer, for a caller that zeroes it independently. */
export function copyKey(key: Buffer): Buffer {
  const out = Buffer.alloc(key.length);
  key.copy(out);
  return out;
}
