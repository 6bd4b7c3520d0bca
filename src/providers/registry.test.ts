import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { isKeyhavenError } from '../errors.ts';
import type { CredentialFields } from './credentials.ts';
import { requestJson } from './http.ts';
import { baseURLVariable, createProviderRegistry, defineProvider } from './registry.ts';
import { AVAILABLE, type ProviderDefinition } from './spec.ts';

/** A user-defined provider, as a deployment would write one: the plugin interface. */
function acmeProvider(): ProviderDefinition {
  return defineProvider({
    id: 'acme',
    displayName: 'Acme AI',
    description: 'An in-house model server',
    icon: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><text x="4" y="18">A</text></svg>',
    credential: {
      provider: 'acme',
      schema: z.strictObject({
        token: z.string().trim().min(1, 'token must not be empty'),
      }) as z.ZodType<CredentialFields>,
      secretFields: ['token'],
      maskSource: (fields) => fields.token ?? '',
    },
    credentialFields: [{ name: 'token', label: 'API token', secret: true, optional: false }],
    capabilities: { text: { models: ['acme-1'], streaming: false } },
    defaultRateLimits: { perMinute: 60 },
    status: AVAILABLE,
    models: [{ id: 'acme-1', kind: 'text', price: { inputPerMillion: 1, outputPerMillion: 2 } }],
    defaultBaseURL: 'https://api.acme.example/v1',
    createAdapter: ({ baseURL, fetch, credentials }) => ({
      async validate() {
        const token = (await credentials()).token?.reveal() ?? '';
        const context = { provider: 'acme', baseURL, fetch, mapError: () => ({}) };
        await requestJson(context, {
          path: '/me',
          headers: { authorization: `Bearer ${token}` },
          secrets: [token],
        });
        return { status: 'valid' };
      },
    }),
  });
}

describe('defineProvider', () => {
  it('accepts a well-formed definition and freezes it', () => {
    const provider = acmeProvider();
    expect(Object.isFrozen(provider)).toBe(true);
  });

  it('refuses a malformed definition, naming every problem', () => {
    const base = acmeProvider();
    const attempt = () =>
      defineProvider({
        ...base,
        id: 'Bad Id',
        icon: '<img src="logo.png">',
        defaultBaseURL: 'ftp://x',
        credentialFields: [{ name: 'token', label: 'API token', secret: false, optional: false }],
      });
    expect(attempt).toThrow(/id must be.*icon must be.*defaultBaseURL.*token: secret must match/);
  });
});

describe('createProviderRegistry', () => {
  it('builds adapters at the default or overridden base URL and reads credentials per request', async () => {
    const calls: { url: string; authorization: string | null }[] = [];
    const fetchSpy: typeof fetch = async (input, init) => {
      calls.push({ url: String(input), authorization: new Headers(init?.headers).get('authorization') });
      return new Response('{}', { status: 200 });
    };
    const registry = createProviderRegistry({ providers: [acmeProvider()], fetch: fetchSpy, env: {} });
    await registry.adapterFromCredentials('acme', { token: 'tok-test-1' }).validate();
    const overridden = createProviderRegistry({
      providers: [acmeProvider()],
      fetch: fetchSpy,
      env: { [baseURLVariable('acme')]: 'http://127.0.0.1:9100/acme' },
    });
    expect(baseURLVariable('google-veo')).toBe('KEYHAVEN_GOOGLE_VEO_BASE_URL');
    let token = 'tok-test-2';
    const source = {
      reveal: vi.fn(async () => ({ credentials: { token: { reveal: () => token } } as never })),
    };
    const adapter = overridden.adapterForUser(source, 'user-1', 'acme');
    await adapter.validate();
    token = 'tok-test-3';
    await adapter.validate();
    expect(calls).toEqual([
      { url: 'https://api.acme.example/v1/me', authorization: 'Bearer tok-test-1' },
      { url: 'http://127.0.0.1:9100/acme/me', authorization: 'Bearer tok-test-2' },
      { url: 'http://127.0.0.1:9100/acme/me', authorization: 'Bearer tok-test-3' },
    ]);
    expect(source.reveal).toHaveBeenCalledWith({ userId: 'user-1', provider: 'acme', purpose: 'proxy' });
  });

  it('refuses bad credentials before any network call, naming the field', () => {
    const fetchSpy = vi.fn<typeof fetch>();
    const registry = createProviderRegistry({ providers: [acmeProvider()], fetch: fetchSpy, env: {} });
    expect(() => registry.adapterFromCredentials('acme', { token: '  ' })).toThrow(
      /token: token must not be empty/,
    );
    expect(() => registry.adapterFromCredentials('acme', { token: 'x', extra: 'y' })).toThrow(/extra/);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('answers an unknown provider with unknown_provider listing the supported ones, and refuses duplicates', () => {
    const registry = createProviderRegistry({ providers: [acmeProvider()], env: {} });
    try {
      registry.require('nope');
      expect.unreachable();
    } catch (error) {
      expect(isKeyhavenError(error, 'unknown_provider')).toBe(true);
      expect((error as { details?: unknown }).details).toEqual({ supported: ['acme'] });
    }
    expect(() => registry.register(acmeProvider())).toThrow(/already registered/);
    expect(registry.catalog.providers()).toEqual(['acme']);
  });

  it("turns validation outcomes into the vault's results", async () => {
    const answer = { status: 401, headers: {} as Record<string, string> };
    const fetchStub: typeof fetch = async () => new Response('{"error":"nope"}', answer);
    const registry = createProviderRegistry({ providers: [acmeProvider()], fetch: fetchStub, env: {} });
    const credentials = { token: { reveal: () => 'tok-test' } as never };
    expect(await registry.validate('acme', credentials)).toMatchObject({ status: 'invalid' });
    answer.status = 429;
    answer.headers = { 'retry-after': '7' };
    expect(await registry.validate('acme', credentials)).toEqual({
      status: 'rate_limited',
      retryAfterMs: 7000,
    });
    answer.status = 503;
    expect(await registry.validate('acme', credentials)).toEqual({ status: 'unreachable' });
  });
});
