import { type KeyObject, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { compactVerify, decodeJwt, decodeProtectedHeader } from 'jose';
import type { Route, RouteContext } from '../types.ts';

/**
 * Google's OAuth token endpoint for service accounts (the JWT bearer grant), as Vertex AI callers meet
 * it: a form-encoded POST of a signed assertion, answered with a short-lived access token or a 400
 * `{"error":"invalid_grant","error_description":…}`. Service accounts are registered by their public
 * key; the access tokens it hands out are what the Vertex routes accept as `Authorization: Bearer`.
 */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Below the simulation's prefix: the token_uri of test service accounts. */
export const TOKEN_PATH = '/token';

/** Google rejects assertions that live longer than an hour or are dated too far from its clock. */
const MAX_ASSERTION_SECONDS = 3600;
const CLOCK_SKEW_SECONDS = 300;

export interface SimulatedServiceAccount {
  clientEmail: string;
  privateKeyId: string;
  publicKey: KeyObject;
  projectId: string;
  /** false: the account exists but holds no Vertex AI role on its project, so calls get a 403. */
  allowed: boolean;
}

export interface ServiceAccountRegistryOptions {
  /** The simulation's URL prefix, to know the token endpoint's own URL (the expected audience). */
  prefix: string;
  now: () => number;
  tokenLifetimeSeconds: number;
}

export function createServiceAccountRegistry({
  prefix,
  now,
  tokenLifetimeSeconds,
}: ServiceAccountRegistryOptions) {
  const accounts = new Map<string, SimulatedServiceAccount>();
  const tokens = new Map<string, { account: SimulatedServiceAccount; expiresAt: number }>();
  const issued: string[] = [];

  function accountForToken(token: string): SimulatedServiceAccount | undefined {
    const issued = tokens.get(token);
    if (!issued) return undefined;
    if (issued.expiresAt <= now()) {
      tokens.delete(token);
      return undefined;
    }
    return issued.account;
  }

  function bearerToken(request: IncomingMessage): string | undefined {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    return match?.[1];
  }

  async function exchange(context: RouteContext): Promise<void> {
    const form = new URLSearchParams(context.body.toString('utf8'));
    const refuse = (error: string, description: string) =>
      context.send(400, { error, error_description: description });
    if (form.get('grant_type') !== JWT_BEARER_GRANT) {
      return refuse('unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
    }
    const assertion = form.get('assertion') ?? '';
    let claims: ReturnType<typeof decodeJwt>;
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      return refuse('invalid_grant', 'Invalid JWT: the assertion is not a signed JWT.');
    }
    const account = typeof claims.iss === 'string' ? accounts.get(claims.iss) : undefined;
    if (!account) return refuse('invalid_grant', 'Invalid grant: account not found');
    if (header.alg !== 'RS256' || (header.kid !== undefined && header.kid !== account.privateKeyId)) {
      return refuse('invalid_grant', 'Invalid JWT Signature.');
    }
    try {
      await compactVerify(assertion, account.publicKey, { algorithms: ['RS256'] });
    } catch {
      return refuse('invalid_grant', 'Invalid JWT Signature.');
    }
    const ownURL = `${context.origin}${prefix}${TOKEN_PATH}`;
    if (claims.aud !== ownURL && claims.aud !== GOOGLE_TOKEN_URL) {
      return refuse('invalid_grant', `Invalid JWT: Failed audience check. The right audience is ${ownURL}`);
    }
    const seconds = Math.floor(now() / 1000);
    const { iat, exp } = claims;
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      exp - iat > MAX_ASSERTION_SECONDS ||
      exp <= seconds ||
      iat > seconds + CLOCK_SKEW_SECONDS
    ) {
      return refuse(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
    if (!scopes.includes(CLOUD_PLATFORM_SCOPE)) {
      return refuse('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    const accessToken = `ya29.sim-${randomBytes(24).toString('base64url')}`;
    tokens.set(accessToken, { account, expiresAt: now() + tokenLifetimeSeconds * 1000 });
    issued.push(accessToken);
    context.send(200, { access_token: accessToken, expires_in: tokenLifetimeSeconds, token_type: 'Bearer' });
  }

  const tokenRoute: Route = { method: 'POST', path: TOKEN_PATH, handle: exchange };

  return {
    register(account: SimulatedServiceAccount): void {
      accounts.set(account.clientEmail, account);
    },
    /** The account behind a request's bearer token, if the token is one this endpoint issued and live. */
    accountFor(request: IncomingMessage): SimulatedServiceAccount | undefined {
      const token = bearerToken(request);
      return token === undefined ? undefined : accountForToken(token);
    },
    bearerToken,
    isLiveToken: (token: string) => accountForToken(token) !== undefined,
    /** Every access token handed out, so tests can look for them where they must never appear. */
    issuedTokens: () => [...issued],
    tokenRoute,
  };
}

export type ServiceAccountRegistry = ReturnType<typeof createServiceAccountRegistry>;
