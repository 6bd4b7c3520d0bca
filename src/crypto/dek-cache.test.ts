import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBoundedCache } from './bounded-cache.ts';
import { createDekCache } from './dek-cache.ts';

/** The unwrapped data key cache: bounded, expiring, and every key that leaves it is zeroed. */

const isZero = (bytes: Uint8Array) => bytes.every((byte) => byte === 0);
const key = () => randomBytes(32);

function clock(start = 1_000) {
  let time = start;
  return {
    now: () => time,
    advance: (milliseconds: number) => {
      time += milliseconds;
    },
  };
}

describe('createDekCache', () => {
  it('returns what was set, per user and version, and counts entries', () => {
    const cache = createDekCache();
    const alice1 = key();
    const alice2 = key();
    cache.set('usr_alice', 1, alice1);
    cache.set('usr_alice', 2, alice2);
    expect(cache.get('usr_alice', 1)).toBe(alice1);
    expect(cache.get('usr_alice', 2)).toBe(alice2);
    expect(cache.get('usr_alice', 3)).toBeUndefined();
    expect(cache.get('usr_bob', 1)).toBeUndefined();
    // Ids that would collide under naive concatenation stay apart.
    cache.set('1:usr_x', 1, key());
    expect(cache.get('usr_x', 11)).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it('expires entries after the TTL and zeroes them', () => {
    const time = clock();
    const cache = createDekCache({ ttlMs: 1_000, now: time.now });
    const stored = key();
    cache.set('usr_alice', 1, stored);
    time.advance(999);
    expect(cache.get('usr_alice', 1)).toBe(stored);
    time.advance(1);
    expect(cache.get('usr_alice', 1)).toBeUndefined();
    expect(isZero(stored)).toBe(true);
    expect(cache.size).toBe(0);
  });

  it('a get does not extend the TTL', () => {
    const time = clock();
    const cache = createDekCache({ ttlMs: 1_000, now: time.now });
    cache.set('usr_alice', 1, key());
    for (let step = 0; step < 4; step += 1) {
      time.advance(300);
      cache.get('usr_alice', 1);
    }
    expect(cache.get('usr_alice', 1)).toBeUndefined();
  });

  it('keeps at most maxEntries, evicting (and zeroing) the least recently used', () => {
    const cache = createDekCache({ maxEntries: 2 });
    const a = key();
    const b = key();
    const c = key();
    cache.set('usr_a', 1, a);
    cache.set('usr_b', 1, b);
    expect(cache.get('usr_a', 1)).toBe(a);
    cache.set('usr_c', 1, c);
    expect(cache.size).toBe(2);
    expect(cache.get('usr_b', 1)).toBeUndefined();
    expect(isZero(b)).toBe(true);
    expect(cache.get('usr_a', 1)).toBe(a);
    expect(cache.get('usr_c', 1)).toBe(c);
    expect(isZero(a) || isZero(c)).toBe(false);
  });

  it('setting an entry again counts as a use for the LRU order', () => {
    const cache = createDekCache({ maxEntries: 2 });
    const a = key();
    const b = key();
    cache.set('usr_a', 1, a);
    cache.set('usr_b', 1, b);
    cache.set('usr_a', 1, a);
    cache.set('usr_c', 1, key());
    expect(cache.get('usr_a', 1)).toBe(a);
    expect(isZero(a)).toBe(false);
    expect(cache.get('usr_b', 1)).toBeUndefined();
    expect(isZero(b)).toBe(true);
  });

  it('prune zeroes expired keys that nobody reads again, and keeps live ones', () => {
    const time = clock();
    const cache = createDekCache({ ttlMs: 1_000, now: time.now });
    const old = key();
    cache.set('usr_old', 1, old);
    time.advance(600);
    const fresh = key();
    cache.set('usr_fresh', 1, fresh);
    time.advance(500);
    cache.prune();
    expect(isZero(old)).toBe(true);
    expect(cache.size).toBe(1);
    expect(isZero(fresh)).toBe(false);
    expect(cache.get('usr_fresh', 1)).toBe(fresh);
  });

  it('replacing a key zeroes the previous one', () => {
    const cache = createDekCache();
    const first = key();
    const second = key();
    cache.set('usr_alice', 1, first);
    cache.set('usr_alice', 1, second);
    expect(isZero(first)).toBe(true);
    expect(cache.get('usr_alice', 1)).toBe(second);
    expect(isZero(second)).toBe(false);
    expect(cache.size).toBe(1);
  });

  it("deleteUser zeroes and drops only that user's keys", () => {
    const cache = createDekCache();
    const alice = [key(), key()];
    const bob = key();
    for (const [index, stored] of alice.entries()) cache.set('usr_alice', index + 1, stored);
    cache.set('usr_bob', 1, bob);
    cache.deleteUser('usr_alice');
    for (const stored of alice) expect(isZero(stored)).toBe(true);
    expect(cache.get('usr_alice', 1)).toBeUndefined();
    expect(cache.get('usr_bob', 1)).toBe(bob);
    expect(isZero(bob)).toBe(false);
    expect(cache.size).toBe(1);
  });

  it('clear zeroes every key', () => {
    const cache = createDekCache();
    const stored = [key(), key(), key()];
    for (const [index, value] of stored.entries()) cache.set(`usr_${index}`, 1, value);
    cache.clear();
    for (const value of stored) expect(isZero(value)).toBe(true);
    expect(cache.size).toBe(0);
  });

  it('a disabled cache (maxEntries or ttlMs 0) zeroes keys instead of keeping them', () => {
    for (const options of [{ maxEntries: 0 }, { ttlMs: 0 }]) {
      const cache = createDekCache(options);
      const stored = key();
      cache.set('usr_alice', 1, stored);
      expect(isZero(stored)).toBe(true);
      expect(cache.get('usr_alice', 1)).toBeUndefined();
      expect(cache.size).toBe(0);
    }
  });
});

describe('createBoundedCache', () => {
  function recordingCache(options: { maxEntries?: number; ttlMs?: number; now?: () => number } = {}) {
    const evicted: string[] = [];
    const cache = createBoundedCache<string, string>({
      maxEntries: options.maxEntries ?? 10,
      ttlMs: options.ttlMs ?? 1_000,
      now: options.now,
      onEvict: (value) => evicted.push(value),
    });
    return { cache, evicted };
  }

  it('keeps a key that is read all the time while others come and go, however many there are', () => {
    // A read moves a key to the newest end only once it has drifted into the older half, so the hot key
    // of a busy gateway costs no re-insert per read, yet is never the one evicted.
    const { cache, evicted } = recordingCache({ maxEntries: 8 });
    cache.set('hot', 'hot');
    for (let index = 0; index < 200; index += 1) {
      expect(cache.get('hot')).toBe('hot');
      cache.set(`cold-${index}`, `cold-${index}`);
    }
    expect(evicted).not.toContain('hot');
    expect(evicted).toHaveLength(200 - 7);
    // The cold keys leave oldest first.
    expect(evicted.slice(0, 3)).toEqual(['cold-0', 'cold-1', 'cold-2']);
    expect(cache.size).toBe(8);
  });

  it('hands every value that leaves to onEvict: LRU, TTL, replace, delete, deleteWhere, clear', () => {
    const time = clock();
    const { cache, evicted } = recordingCache({ maxEntries: 3, now: time.now });
    cache.set('a', 'A');
    cache.set('b', 'B');
    cache.set('c', 'C');
    cache.get('a');
    cache.set('d', 'D');
    expect(evicted).toEqual(['B']);
    cache.set('a', 'A2');
    expect(evicted).toEqual(['B', 'A']);
    cache.delete('c');
    expect(evicted).toEqual(['B', 'A', 'C']);
    cache.set('x1', 'X1');
    cache.deleteWhere((name) => name.startsWith('x'));
    expect(evicted).toEqual(['B', 'A', 'C', 'X1']);
    time.advance(1_000);
    expect(cache.get('d')).toBeUndefined();
    expect(evicted).toEqual(['B', 'A', 'C', 'X1', 'D']);
    cache.clear();
    expect(evicted).toEqual(['B', 'A', 'C', 'X1', 'D', 'A2']);
    expect(cache.size).toBe(0);
  });

  it('setting the same value again neither evicts it nor loses its LRU place', () => {
    const { cache, evicted } = recordingCache({ maxEntries: 2 });
    cache.set('a', 'A');
    cache.set('b', 'B');
    cache.set('a', 'A');
    cache.set('c', 'C');
    expect(evicted).toEqual(['B']);
    expect(cache.get('a')).toBe('A');
  });

  it('a disabled cache evicts immediately', () => {
    const { cache, evicted } = recordingCache({ maxEntries: 0 });
    cache.set('a', 'A');
    expect(evicted).toEqual(['A']);
    expect(cache.get('a')).toBeUndefined();
  });
});
