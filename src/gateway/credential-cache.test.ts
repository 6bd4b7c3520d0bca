import { describe, expect, it } from 'vitest';
import { SecretValue } from '../crypto/index.ts';
import { KeyhavenError } from '../errors.ts';
import type { InvalidationMessage } from '../vault/index.ts';
import { createCredentialCache } from './credential-cache.ts';

/** A vault that counts reveals and lets the test rotate keys and announce invalidations. */
function fakeVault() {
  const state = { version: 1, reveals: 0, listeners: [] as ((message: InvalidationMessage) => void)[] };
  return {
    state,
    vault: {
      async reveal({ userId, provider }: { userId: string; provider: string }) {
        state.reveals += 1;
        if (userId === 'nobody') throw new KeyhavenError('not_found', `no ${provider} credential`);
        return {
          credentialId: `cred_${String(state.version).padStart(24, '0')}`,
          provider,
          version: state.version,
          credentials: { apiKey: new SecretValue(`sk-${userId}-v${state.version}`) },
        };
      },
      onInvalidate(listener: (message: InvalidationMessage) => void) {
        state.listeners.push(listener);
      },
    },
    announce(message: InvalidationMessage) {
      for (const listener of state.listeners) listener(message);
    },
  };
}

describe('gateway credential cache', () => {
  it('reveals once within the TTL, again after it', async () => {
    let now = 0;
    const { vault, state } = fakeVault();
    const cache = createCredentialCache({ vault: vault as never, ttlMs: 1_000, now: () => now });
    expect((await cache.get('u1', 'openai')).fields).toEqual({ apiKey: 'sk-u1-v1' });
    await cache.get('u1', 'openai');
    expect(state.reveals).toBe(1);
    now = 1_001;
    state.version = 2;
    expect(await cache.get('u1', 'openai')).toMatchObject({ version: 2, fields: { apiKey: 'sk-u1-v2' } });
    expect(state.reveals).toBe(2);
    cache.close();
  });

  it('drops an entry on invalidation of the user and provider, of the user, or of everything', async () => {
    const { vault, state, announce } = fakeVault();
    const cache = createCredentialCache({ vault: vault as never });
    await cache.get('u1', 'openai');
    await cache.get('u1', 'anthropic');
    await cache.get('u2', 'openai');
    state.version = 2;
    announce({ type: 'user', userId: 'u1', provider: 'openai' });
    expect((await cache.get('u1', 'openai')).version).toBe(2);
    expect((await cache.get('u1', 'anthropic')).version).toBe(1);
    announce({ type: 'user', userId: 'u1' });
    expect((await cache.get('u1', 'anthropic')).version).toBe(2);
    expect((await cache.get('u2', 'openai')).version).toBe(1);
    announce({ type: 'reset' });
    expect((await cache.get('u2', 'openai')).version).toBe(2);
    cache.close();
  });

  it('zeroes the cached bytes when an entry leaves', async () => {
    const captured: Buffer[] = [];
    const { vault } = fakeVault();
    const originalFrom = Buffer.from;
    // Watch the buffers the cache makes for the key.
    Buffer.from = ((...args: Parameters<typeof Buffer.from>) => {
      const buffer = (originalFrom as (...a: unknown[]) => Buffer)(...args);
      if (typeof args[0] === 'string' && args[0].startsWith('sk-')) captured.push(buffer);
      return buffer;
    }) as typeof Buffer.from;
    let cache: ReturnType<typeof createCredentialCache>;
    try {
      cache = createCredentialCache({ vault: vault as never, maxEntries: 1 });
      await cache.get('u1', 'openai');
    } finally {
      Buffer.from = originalFrom;
    }
    expect(captured).toHaveLength(1);
    expect(captured[0]?.toString()).toBe('sk-u1-v1');
    await cache.get('u2', 'openai'); // evicts u1 (one entry at most)
    expect(captured[0]?.every((byte) => byte === 0)).toBe(true);
    cache.close();
  });

  it('does not cache what a reveal read before an invalidation arrived', async () => {
    const { vault, state, announce } = fakeVault();
    const reveal = vault.reveal;
    let release: () => void = () => {};
    vault.reveal = async (input) => {
      const result = await reveal(input);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return result;
    };
    const cache = createCredentialCache({ vault: vault as never });
    const pending = cache.get('u1', 'openai');
    await new Promise((resolve) => setTimeout(resolve, 5));
    announce({ type: 'user', userId: 'u1', provider: 'openai' });
    release();
    expect((await pending).version).toBe(1);
    vault.reveal = reveal;
    state.version = 2;
    expect((await cache.get('u1', 'openai')).version).toBe(2);
    cache.close();
  });

  it('passes a missing credential on as the vault reports it', async () => {
    const { vault } = fakeVault();
    const cache = createCredentialCache({ vault: vault as never });
    await expect(cache.get('nobody', 'openai')).rejects.toMatchObject({ code: 'not_found' });
    cache.close();
  });
});
