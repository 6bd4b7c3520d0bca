import { createHash } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import { z } from 'zod';
import { SecretValue } from '../../crypto/index.ts';
import { upstreamErrorFrom } from '../http.ts';
import { UpstreamError } from '../upstream-error.ts';
import { type ServiceAccount, serviceAccountSecrets } from './service-account.ts';
import { mapVeoError } from './veo-errors.ts';

/**
 * Access tokens for Vertex AI from a service account: the OAuth 2.0 JWT bearer grant (RFC 7523). A
 * JWT signed RS256 with the account's private key, `{iss: client_email, scope: cloud-platform,
 * aud: token_uri, iat, exp: iat + 3600}` with `kid: private_key_id`, is POSTed form-encoded to the key
 * file's token_uri; the answer `{access_token, expires_in}` is cached in memory until shortly before
 * it expires, so a burst of calls costs one exchange.
 */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_LIFETIME_SECONDS = 3600;
/** Refresh this long before expiry (what Google's own libraries do), so no call carries a dying token. */
const REFRESH_MARGIN_MS = 5 * 60_000;

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
  token_type: z.string().optional(),
});

interface CachedToken {
  token: SecretValue;
  /** When to stop using it: expiry minus the refresh margin. */
  refreshAt: number;
}

export interface AccessTokenCache {
  get(key: string, now: number): SecretValue | undefined;
  set(key: string, token: SecretValue, refreshAt: number): void;
  delete(key: string): void;
  /** Exchanges in flight, so concurrent calls for one account share one. */
  pending: Map<string, Promise<SecretValue>>;
  readonly size: number;
}

export function createAccessTokenCache({
  maxEntries = 1000,
}: {
  maxEntries?: number;
} = {}): AccessTokenCache {
  const entries = new Map<string, CachedToken>();
  return {
    get(key, now) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.refreshAt <= now) {
        entries.delete(key);
        return undefined;
      }
      return entry.token;
    },
    set(key, token, refreshAt) {
      entries.delete(key);
      entries.set(key, { token, refreshAt });
      // Oldest first: a Map iterates in insertion order.
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
    },
    delete: (key) => void entries.delete(key),
    pending: new Map(),
    get size() {
      return entries.size;
    },
  };
}

/** One cache per process: adapters are built per request, the tokens outlive them. */
export const sharedAccessTokenCache = createAccessTokenCache();

/**
 * The cache key: a hash over the account's identity and its private key. Not the secret, and not
 * the public parts alone either: client_email and private_key_id are not secret (the masked key shows
 * the id), so a key file that copied them with another private key must not get this account's token.
 */
export function accessTokenCacheKey(account: ServiceAccount): string {
  const privateKeyHash = createHash('sha256').update(account.privateKey).digest('hex');
  return createHash('sha256')
    .update(
      JSON.stringify([account.clientEmail, account.privateKeyId ?? '', account.tokenURL, privateKeyHash]),
    )
    .digest('hex');
}

/**
 * A token_uri comes from user input, and the assertion is POSTed there: only Google's own endpoints
 * are accepted, or the origin the deployment pointed Vertex at (a proxy, or the simulator).
 */
export function checkTokenURL(tokenURL: string, vertexBaseURL: string | undefined): void {
  let url: URL;
  try {
    url = new URL(tokenURL);
  } catch {
    throw refuse('authentication', 'serviceAccount key file: token_uri is not a URL');
  }
  const google = url.protocol === 'https:' && /(^|\.)googleapis\.com$/.test(url.hostname);
  let sameAsOverride = false;
  try {
    sameAsOverride = vertexBaseURL !== undefined && new URL(vertexBaseURL).origin === url.origin;
  } catch {
    sameAsOverride = false;
  }
  if (!google && !sameAsOverride) {
    throw refuse(
      'authentication',
      'serviceAccount key file: token_uri must be a Google OAuth endpoint (https://oauth2.googleapis.com/token)',
    );
  }
}

function refuse(kind: 'authentication' | 'invalid_response', message: string): UpstreamError {
  return new UpstreamError({ provider: 'google-veo', kind, message });
}

async function signAssertion(account: ServiceAccount, nowMs: number): Promise<string> {
  let key: Awaited<ReturnType<typeof importPKCS8>>;
  try {
    key = await importPKCS8(account.privateKey, 'RS256');
  } catch {
    throw refuse('authentication', 'serviceAccount key file: private_key is not a PKCS#8 RSA private key');
  }
  const issuedAt = Math.floor(nowMs / 1000);
  return new SignJWT({ scope: CLOUD_PLATFORM_SCOPE })
    .setProtectedHeader({
      alg: 'RS256',
      typ: 'JWT',
      ...(account.privateKeyId ? { kid: account.privateKeyId } : {}),
    })
    .setIssuer(account.clientEmail)
    .setAudience(account.tokenURL)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ASSERTION_LIFETIME_SECONDS)
    .sign(key);
}

export interface AccessTokenOptions {
  fetch: typeof fetch;
  now: () => number;
  cache?: AccessTokenCache;
  signal?: AbortSignal;
}

async function exchange(
  account: ServiceAccount,
  { fetch, now, signal }: AccessTokenOptions,
): Promise<{ token: SecretValue; expiresInMs: number }> {
  const assertion = await signAssertion(account, now());
  const secrets = [...serviceAccountSecrets(account), assertion];
  let response: Response;
  try {
    response = await fetch(account.tokenURL, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    // Only the error's class travels: a transport message can carry the URL.
    throw new UpstreamError({
      provider: 'google-veo',
      kind: 'unreachable',
      message: 'could not connect to the Google token endpoint',
    });
  }
  if (!response.ok) {
    throw await upstreamErrorFrom(
      { provider: 'google-veo', fetch, baseURL: account.tokenURL, mapError: mapVeoError, now },
      response,
      secrets,
    );
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const parsed = tokenResponseSchema.safeParse(body);
  if (!parsed.success)
    throw refuse('invalid_response', 'the token endpoint answered without an access token');
  return { token: new SecretValue(parsed.data.access_token), expiresInMs: parsed.data.expires_in * 1000 };
}

/** A live access token for the account: from the cache, or from one exchange shared by all callers. */
export async function vertexAccessToken(
  account: ServiceAccount,
  options: AccessTokenOptions,
): Promise<SecretValue> {
  const cache = options.cache ?? sharedAccessTokenCache;
  const key = accessTokenCacheKey(account);
  const cached = cache.get(key, options.now());
  if (cached) return cached;
  const inFlight = cache.pending.get(key);
  if (inFlight) return inFlight;
  const fetched = (async () => {
    const startedAt = options.now();
    const { token, expiresInMs } = await exchange(account, options);
    const margin = Math.min(REFRESH_MARGIN_MS, expiresInMs / 2);
    cache.set(key, token, startedAt + expiresInMs - margin);
    return token;
  })();
  cache.pending.set(key, fetched);
  try {
    return await fetched;
  } finally {
    cache.pending.delete(key);
  }
}

/** Drops an account's token, after Vertex refused it (revoked before it expired). */
export function forgetAccessToken(
  account: ServiceAccount,
  cache: AccessTokenCache = sharedAccessTokenCache,
): void {
  cache.delete(accessTokenCacheKey(account));
}
