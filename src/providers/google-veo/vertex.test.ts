import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SecretValue } from '../../crypto/index.ts';
import { isKeyhavenError } from '../../errors.ts';
import { createGoogleVeoSimulation } from '../../simulator/providers/google-veo.ts';
import {
  createTestServiceAccount,
  type TestServiceAccount,
} from '../../simulator/providers/google-veo-service-account.ts';
import { type Simulator, startSimulator } from '../../simulator/server.ts';
import { createProviderRegistry } from '../registry.ts';
import type { ProviderAdapter, VideoStatus } from '../spec.ts';
import { isUpstreamError } from '../upstream-error.ts';
import { googleVeoProvider, VERTEX_BASE_URL_VARIABLE } from './index.ts';

// Two clocks, moved by the tests: Google's (the token endpoint's) and Keyhaven's. Tokens live 20
// minutes here, so a token can expire at Google while an assertion signed now is still good.
let googleOffset = 0;
let keyhavenOffset = 0;
const TOKEN_LIFETIME_SECONDS = 1200;
const simulation = createGoogleVeoSimulation({
  now: () => Date.now() + googleOffset,
  tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS,
});
let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [simulation] });
});
afterAll(() => simulator.close());
afterEach(() => {
  simulator.reset();
  googleOffset = 0;
  keyhavenOffset = 0;
});

interface AdapterSetup {
  location?: string;
  vertexBaseURL?: string;
}

function adapter(
  json: string,
  { location, vertexBaseURL = simulator.baseURL('google-veo') }: AdapterSetup = {},
) {
  return googleVeoProvider.createAdapter({
    // The Gemini API base is not used in service-account mode.
    baseURL: 'https://generativelanguage.googleapis.com',
    fetch: globalThis.fetch,
    credentials: () => ({
      serviceAccount: new SecretValue(json),
      ...(location ? { location: new SecretValue(location) } : {}),
    }),
    env: { [VERTEX_BASE_URL_VARIABLE]: vertexBaseURL },
    now: () => Date.now() + keyhavenOffset,
  });
}

function video(target: ProviderAdapter) {
  if (!target.video) throw new Error('google-veo has a video model');
  return target.video;
}

const account = (options: { allowed?: boolean } = {}) =>
  createTestServiceAccount(simulator, { simulation, ...options });

const tokenRequests = () => simulator.requests.filter((request) => request.path === '/token');

function withField(json: string, field: string, value: unknown): string {
  return JSON.stringify({ ...JSON.parse(json), [field]: value });
}

async function closedPortURL(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function pollToEnd(target: ProviderAdapter, operation: string): Promise<VideoStatus[]> {
  const statuses: VideoStatus[] = [];
  for (let poll = 0; poll < 10; poll += 1) {
    const status = await video(target).status(operation);
    statuses.push(status);
    if (status.state !== 'pending') break;
  }
  return statuses;
}

describe('google-veo validate (Vertex service account)', () => {
  it('exchanges a JWT bearer grant for a token, then makes a cheap authenticated call', async () => {
    const sa = account();
    expect(await adapter(sa.json).validate()).toEqual({ status: 'valid' });
    const [token, check] = simulator.requests;
    expect(token?.path).toBe('/token');
    expect(token?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(token?.body);
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const assertion = form.get('assertion') ?? '';
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'RS256', typ: 'JWT', kid: sa.privateKeyId });
    const claims = decodeJwt(assertion);
    expect(claims).toMatchObject({
      iss: sa.clientEmail,
      aud: sa.tokenURL,
      scope: 'https://www.googleapis.com/auth/cloud-platform',
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(3600);
    expect(check?.path).toBe(
      '/v1beta1/projects/keyhaven-sim/locations/us-central1/publishers/google/models/gemini-2.5-flash:countTokens',
    );
    expect(check?.headers.authorization).toMatch(/^Bearer ya29\./);
    expect(check?.headers['x-goog-api-key']).toBeUndefined();
  });

  it('is invalid when the key file was signed with another private key (bad signature)', async () => {
    const sa = account();
    const { privateKey: otherKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const result = await adapter(withField(sa.json, 'private_key', otherKey)).validate();
    expect(result).toEqual({
      status: 'invalid',
      reason: 'google-veo: invalid_grant: Invalid JWT Signature.',
    });
  });

  it('is invalid for an account Google does not know', async () => {
    const stranger = createTestServiceAccount(simulator, { simulation: createGoogleVeoSimulation() });
    const result = await adapter(stranger.json).validate();
    expect(result).toEqual({
      status: 'invalid',
      reason: 'google-veo: invalid_grant: Invalid grant: account not found',
    });
  });

  it('is invalid for an account without the Vertex AI role, with the IAM message', async () => {
    const result = await adapter(account({ allowed: false }).json).validate();
    expect(result.status).toBe('invalid');
    expect(result.status === 'invalid' && result.reason).toMatch(
      /Permission 'aiplatform.endpoints.predict' denied/,
    );
  });

  it('is unreachable when nothing listens', async () => {
    const closed = await closedPortURL();
    const sa = account();
    const result = await adapter(withField(sa.json, 'token_uri', `${closed}/veo/token`), {
      vertexBaseURL: `${closed}/veo`,
    }).validate();
    expect(result).toEqual({
      status: 'unreachable',
      reason: 'google-veo: could not connect to the Google token endpoint',
    });
  });

  it('is rate-limited when Vertex answers 429', async () => {
    simulator.addFault({ provider: 'google-veo', status: 429, retryAfterSeconds: 3 });
    expect(await adapter(account().json).validate()).toEqual({ status: 'rate_limited', retryAfterMs: 3000 });
  });

  it('refuses, before any call, a key file it cannot use, naming the field and never quoting the file', async () => {
    const sa = account();
    const cases: [string, RegExp][] = [
      [withField(sa.json, 'private_key', undefined), /private_key/],
      [
        withField(
          sa.json,
          'private_key',
          '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----',
        ),
        /private_key is not a PKCS#8/,
      ],
      [withField(sa.json, 'project_id', '../other'), /project_id/],
      [
        withField(sa.json, 'token_uri', 'https://attacker.example/token'),
        /token_uri must be a Google OAuth endpoint/,
      ],
      [`${sa.json.slice(0, 200)}`, /not a JSON service account key file/],
    ];
    for (const [json, reason] of cases) {
      const result = await adapter(json).validate();
      expect(result.status).toBe('invalid');
      expect(result.status === 'invalid' && result.reason).toMatch(reason);
      expect(JSON.stringify(result)).not.toContain('BEGIN PRIVATE KEY');
    }
    const badLocation = await adapter(sa.json, { location: 'evil.example/x#' }).validate();
    expect(badLocation).toEqual({
      status: 'invalid',
      reason: 'google-veo: location must be a Google Cloud region such as us-central1, or global',
    });
    expect(simulator.requests).toHaveLength(0);
  });

  it('refuses malformed credentials in the registry with a message that names the field', () => {
    const registry = createProviderRegistry({ providers: [googleVeoProvider], env: {} });
    const attempt = () =>
      registry.adapterFromCredentials('google-veo', { serviceAccount: '{"type":"service_account"}' });
    expect(attempt).toThrow(/serviceAccount: serviceAccount must be a service_account JSON key/);
    try {
      attempt();
    } catch (error) {
      expect(isKeyhavenError(error, 'invalid_request')).toBe(true);
    }
    expect(simulator.requests).toHaveLength(0);
  });
});

describe('google-veo video (Vertex service account)', () => {
  it('starts in the project and location, polls with fetchPredictOperation, and returns the video', async () => {
    const sa = account();
    const target = adapter(sa.json, { location: 'europe-west4' });
    const started = await video(target).start({
      prompt: 'A paper boat on a river',
      model: 'veo-3.0-generate-001',
      durationSeconds: 4,
      seed: 7,
    });
    expect(started.warnings).toEqual([]);
    const predict = simulator.requests.find((request) => request.path.endsWith(':predictLongRunning'));
    expect(predict?.path).toBe(
      '/v1beta1/projects/keyhaven-sim/locations/europe-west4/publishers/google/models/veo-3.0-generate-001:predictLongRunning',
    );
    expect(JSON.parse(predict?.body ?? '').parameters).toEqual({
      sampleCount: 1,
      durationSeconds: 4,
      aspectRatio: '16:9',
      resolution: '720p',
      seed: 7,
    });
    const statuses = await pollToEnd(target, started.operation);
    expect(statuses.map((status) => status.state)).toEqual(['pending', 'pending', 'succeeded']);
    const done = statuses.at(-1);
    if (done?.state !== 'succeeded') throw new Error('expected success');
    expect(done.usage.videoSeconds).toBe(4);
    expect(done.outputs[0]?.mediaType).toBe('video/mp4');
    expect(done.outputs[0]?.url).toMatch(/^data:video\/mp4;base64,[A-Za-z0-9+/]+=*$/);
    const fetches = simulator.requests.filter((request) => request.path.endsWith(':fetchPredictOperation'));
    expect(fetches).toHaveLength(3);
    expect(JSON.parse(fetches[0]?.body ?? '').operationName).toMatch(
      /^projects\/keyhaven-sim\/locations\/europe-west4\/publishers\/google\/models\/veo-3\.0-generate-001\/operations\/[0-9a-f-]+$/,
    );
    // One token exchange served the start and every poll.
    expect(tokenRequests()).toHaveLength(1);
  });

  it('reports failed and filtered jobs', async () => {
    const target = adapter(account().json);
    const failed = await pollToEnd(
      target,
      (await video(target).start({ prompt: 'simulate:fail' })).operation,
    );
    expect(failed.at(-1)).toMatchObject({ state: 'failed', code: 'INTERNAL', retryable: true });
    const filtered = await pollToEnd(
      target,
      (await video(target).start({ prompt: 'simulate:filtered' })).operation,
    );
    expect(filtered.at(-1)).toMatchObject({ state: 'failed', code: 'content_filtered', retryable: false });
  });
});

describe('google-veo access tokens', () => {
  it('fetches one token for several calls, and one for concurrent calls', async () => {
    const sa = account();
    await adapter(sa.json).validate();
    await adapter(sa.json).validate();
    expect(tokenRequests()).toHaveLength(1);
    const other = account();
    const results = await Promise.all([1, 2, 3].map(() => adapter(other.json).validate()));
    expect(results).toEqual([{ status: 'valid' }, { status: 'valid' }, { status: 'valid' }]);
    expect(tokenRequests()).toHaveLength(2);
  });

  it('refreshes a token shortly before it expires', async () => {
    const sa = account();
    await adapter(sa.json).validate();
    // 14 minutes on: more than the five-minute refresh margin is left of the token's 20 minutes.
    googleOffset = keyhavenOffset = 14 * 60_000;
    await adapter(sa.json).validate();
    expect(tokenRequests()).toHaveLength(1);
    // 16 minutes on: within five minutes of expiry, so a new token is fetched (and Google takes it).
    googleOffset = keyhavenOffset = 16 * 60_000;
    expect(await adapter(sa.json).validate()).toEqual({ status: 'valid' });
    expect(tokenRequests()).toHaveLength(2);
  });

  it('drops a token Vertex refuses, so the next call exchanges a new one', async () => {
    const sa = account();
    await adapter(sa.json).validate();
    // Google's clock is past the token's expiry while Keyhaven still trusts it: a revoked token
    // looks the same. Keyhaven's clock stays put, so only dropping the token makes it fetch another.
    googleOffset = 30 * 60_000;
    const refused = await adapter(sa.json).validate();
    expect(refused.status).toBe('invalid');
    expect(await adapter(sa.json).validate()).toEqual({ status: 'valid' });
    expect(tokenRequests()).toHaveLength(2);
  });

  it("does not hand one account's token to a key file that copies its email and key id", async () => {
    const sa = account();
    await adapter(sa.json).validate();
    const { privateKey: otherKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const impostor = await adapter(withField(sa.json, 'private_key', otherKey)).validate();
    expect(impostor.status).toBe('invalid');
    expect(tokenRequests()).toHaveLength(2);
  });
});

describe('google-veo secrets (Vertex service account)', () => {
  function forms(sa: TestServiceAccount): string[] {
    const lines = sa.privateKey.split('\n').filter((line) => line.length >= 40 && !line.startsWith('-----'));
    return [sa.privateKey, JSON.stringify(sa.privateKey).slice(1, -1), ...lines];
  }

  it('never shows the private key, the assertion or an access token in errors, console output or URLs', async () => {
    const sa = account();
    const printed: string[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        printed.push(args.map((arg) => inspect(arg)).join(' '));
      }),
    );
    const outcomes: unknown[] = [];
    try {
      const target = adapter(sa.json);
      outcomes.push(await target.validate());
      const { operation } = await video(target).start({ prompt: 'Rain on glass' });
      outcomes.push(await video(target).status(operation));
      for (const status of [401, 403, 429, 500, 503] as const) {
        simulator.addFault({ provider: 'google-veo', status, count: 1 });
        outcomes.push(
          await video(target)
            .start({ prompt: 'Rain' })
            .catch((caught: unknown) => caught),
        );
      }
      outcomes.push(await adapter(withField(sa.json, 'private_key', `${sa.privateKey}x`)).validate());
      outcomes.push(await adapter(sa.json.slice(0, 300)).validate());
      outcomes.push(await adapter(account({ allowed: false }).json).validate());
      googleOffset = 30 * 60_000;
      outcomes.push(
        await video(target)
          .status(operation)
          .catch((caught: unknown) => caught),
      );
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(outcomes.filter((outcome) => isUpstreamError(outcome))).toHaveLength(6);
    const assertions = tokenRequests().map(
      (request) => new URLSearchParams(request.body).get('assertion') ?? '',
    );
    const tokens = simulation.issuedAccessTokens();
    expect(tokens.length).toBeGreaterThan(0);
    const seen = [
      ...outcomes.flatMap((outcome) => [
        String(outcome),
        inspect(outcome, { depth: 5 }),
        JSON.stringify(outcome),
        outcome instanceof Error ? (outcome.stack ?? '') : '',
      ]),
      ...printed,
      ...simulator.requests.map((request) => request.path),
    ].join('\n');
    for (const secret of [...forms(sa), ...assertions, ...tokens]) expect(seen).not.toContain(secret);
    // The private key itself never leaves Keyhaven: only signatures made with it do.
    const wire = simulator.requests
      .map((request) => `${request.body}${JSON.stringify(request.headers)}`)
      .join('\n');
    for (const secret of forms(sa)) expect(wire).not.toContain(secret);
  });
});
