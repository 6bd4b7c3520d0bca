import { importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../server.ts';
import { createGoogleVeoSimulation, GOOGLE_VEO_TEST_KEYS, SERVICE_ACCOUNT_KEY } from './google-veo.ts';
import { createTestServiceAccount, type TestServiceAccount } from './google-veo-service-account.ts';

const simulation = createGoogleVeoSimulation();
let simulator: Simulator;
let account: TestServiceAccount;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [simulation] });
  account = createTestServiceAccount(simulator, { simulation });
});
afterAll(() => simulator.close());

interface AssertionClaims {
  iss?: string;
  aud?: string;
  scope?: string;
  iat?: number;
  exp?: number;
  kid?: string;
}

async function assertion(claims: AssertionClaims = {}, privateKey = account.privateKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const iat = claims.iat ?? now;
  return new SignJWT({ scope: claims.scope ?? 'https://www.googleapis.com/auth/cloud-platform' })
    .setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? account.privateKeyId })
    .setIssuer(claims.iss ?? account.clientEmail)
    .setAudience(claims.aud ?? account.tokenURL)
    .setIssuedAt(iat)
    .setExpirationTime(claims.exp ?? iat + 3600)
    .sign(await importPKCS8(privateKey, 'RS256'));
}

async function exchange(jwt: string, grantType = 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
  const response = await fetch(account.tokenURL, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: grantType, assertion: jwt }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('google-veo simulation: token endpoint', () => {
  it('answers a good assertion with a bearer token that Vertex accepts', async () => {
    const { status, body } = await exchange(await assertion());
    expect(status).toBe(200);
    expect(body).toEqual({
      access_token: expect.stringMatching(/^ya29\./),
      expires_in: 3599,
      token_type: 'Bearer',
    });
    const count = await fetch(
      `${simulator.baseURL('google-veo')}/v1beta1/projects/keyhaven-sim/locations/us-central1/publishers/google/models/gemini-2.5-flash:countTokens`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${String(body.access_token)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }] }),
      },
    );
    expect(count.status).toBe(200);
  });

  it.each([
    ['a wrong audience', { aud: 'https://elsewhere.example/token' }, /Failed audience check/],
    ['an expired assertion', { iat: 1_000_000, exp: 1_003_600 }, /short-lived token/],
    ['an assertion living over an hour', { exp: Math.floor(Date.now() / 1000) + 7200 }, /short-lived token/],
    ['another key id', { kid: 'not-the-key' }, /Invalid JWT Signature/],
    ['an unknown account', { iss: 'nobody@keyhaven-sim.iam.gserviceaccount.com' }, /account not found/],
  ])('refuses %s with invalid_grant', async (_name, claims, description) => {
    const { status, body } = await exchange(await assertion(claims));
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_grant');
    expect(body.error_description).toMatch(description);
  });

  it('refuses a signature made with another key, a missing scope and another grant type', async () => {
    const other = createTestServiceAccount(simulator, { simulation: createGoogleVeoSimulation() });
    expect((await exchange(await assertion({}, other.privateKey))).body.error_description).toBe(
      'Invalid JWT Signature.',
    );
    expect((await exchange(await assertion({ scope: 'openid' }))).body.error).toBe('invalid_scope');
    expect((await exchange(await assertion(), 'client_credentials')).body.error).toBe(
      'unsupported_grant_type',
    );
  });
});

describe('google-veo simulation: keys', () => {
  const models = () => `${simulator.baseURL('google-veo')}/v1beta/models?pageSize=1`;

  it('refuses a missing key with 403 and a wrong one with 400 API_KEY_INVALID, as Google does', async () => {
    const missing = await fetch(models());
    expect(missing.status).toBe(403);
    const wrong = await fetch(models(), { headers: { 'x-goog-api-key': 'test-gemini-wrong' } });
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(await wrong.json())).toContain('API_KEY_INVALID');
    const good = await fetch(models(), { headers: { 'x-goog-api-key': GOOGLE_VEO_TEST_KEYS[0] } });
    expect(await good.json()).toMatchObject({ models: [{ name: expect.stringMatching(/^models\/veo-/) }] });
  });

  it('does not take the name that stands for service-account tokens as an API key, or an unknown token', async () => {
    const sentinel = await fetch(models(), { headers: { 'x-goog-api-key': SERVICE_ACCOUNT_KEY } });
    expect(sentinel.status).toBe(400);
    const unknown = await fetch(models(), { headers: { authorization: 'Bearer ya29.made-up' } });
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ error: { status: 'UNAUTHENTICATED' } });
  });
});
