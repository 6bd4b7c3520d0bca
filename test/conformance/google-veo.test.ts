import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, GenerateVideosOperation, GoogleGenAI, type GoogleGenAIOptions } from '@google/genai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseServiceAccount } from '../../src/providers/google-veo/service-account.ts';
import { vertexAccessToken } from '../../src/providers/google-veo/vertex-token.ts';
import { googleVeoSimulation, SIMULATED_MP4 } from '../../src/simulator/providers/google-veo.ts';
import { createTestServiceAccount } from '../../src/simulator/providers/google-veo-service-account.ts';
import { type Simulator, startSimulator } from '../../src/simulator/server.ts';

/**
 * The official Google Gen AI SDK (@google/genai) as a real client of the simulator: it must parse
 * what the simulator sends exactly as it parses Google, on the Gemini API and on Vertex AI.
 *
 * @google/genai 3.x offers generateVideos on Vertex AI only (it throws on the Gemini API, which still
 * serves predictLongRunning); so on the Gemini API the operation is started with the wire body the
 * SDK's 2.x versions sent, and the SDK polls it, parses the videos and downloads the file.
 */
const KEY = `test-gemini-${randomBytes(16).toString('hex')}`;
let simulator: Simulator;
let downloads: string;

beforeAll(async () => {
  simulator = await startSimulator({ providers: [googleVeoSimulation], keys: { 'google-veo': [KEY] } });
  downloads = await mkdtemp(join(tmpdir(), 'keyhaven-veo-'));
});
afterAll(async () => {
  await simulator.close();
  await rm(downloads, { recursive: true, force: true });
});
afterEach(() => simulator.reset());

const gemini = (apiKey = KEY) =>
  new GoogleGenAI({ apiKey, httpOptions: { baseUrl: simulator.baseURL('google-veo') } });

async function startOnGeminiApi(prompt: string): Promise<GenerateVideosOperation> {
  const response = await fetch(
    `${simulator.baseURL('google-veo')}/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning`,
    {
      method: 'POST',
      headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        instances: [{ prompt }],
        parameters: { sampleCount: 1, durationSeconds: 8, aspectRatio: '16:9', resolution: '720p' },
      }),
    },
  );
  expect(response.status).toBe(200);
  const { name } = (await response.json()) as { name: string };
  return Object.assign(new GenerateVideosOperation(), { name });
}

async function pollUntilDone(ai: GoogleGenAI, operation: GenerateVideosOperation) {
  let current = operation;
  for (let poll = 0; poll < 10 && !current.done; poll += 1) {
    current = await ai.operations.getVideosOperation({ operation: current });
  }
  return current;
}

async function apiErrorOf(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error;
}

describe('@google/genai against the simulator (Gemini API, API key)', () => {
  it('lists models', async () => {
    const pager = await gemini().models.list({ config: { pageSize: 2 } });
    expect(pager.page.map((model) => model.name)).toEqual([
      'models/veo-3.1-generate-preview',
      'models/veo-3.1-fast-generate-preview',
    ]);
    expect(pager.page[0]?.supportedActions).toEqual(['predictLongRunning']);
    expect(simulator.requests[0]?.headers['x-goog-api-key']).toBe(KEY);
  });

  it('refuses generateVideos on the Gemini API (3.x moved it to Vertex AI), before any request', async () => {
    await expect(
      gemini().models.generateVideos({
        model: 'veo-3.1-fast-generate-preview',
        source: { prompt: 'A kite' },
      }),
    ).rejects.toThrow(/only supported by the Gemini Enterprise Agent Platform/);
    expect(simulator.requests).toHaveLength(0);
  });

  it('polls an operation to done, reads the generated video and downloads it', async () => {
    const ai = gemini();
    const started = await startOnGeminiApi('A kite over a beach');
    expect(started.name).toMatch(/^models\/veo-3\.1-fast-generate-preview\/operations\/[a-z0-9]+$/);
    const first = await ai.operations.getVideosOperation({ operation: started });
    expect(first.done).toBeFalsy();
    const done = await pollUntilDone(ai, first);
    expect(done.done).toBe(true);
    expect(done.error).toBeUndefined();
    const uri = done.response?.generatedVideos?.[0]?.video?.uri ?? '';
    expect(uri).toMatch(/\/v1beta\/files\/[a-z0-9]+:download\?alt=media$/);
    // The SDK derives the file name from https URIs only; the simulator's is http, so name it.
    const name = /files\/([a-z0-9]+):download/.exec(uri)?.[1] ?? '';
    const downloadPath = join(downloads, 'kite.mp4');
    await ai.files.download({ file: name, downloadPath });
    expect(await readFile(downloadPath)).toEqual(SIMULATED_MP4);
  });

  it('reads a failed operation and one whose video the safety filters removed', async () => {
    const ai = gemini();
    const failed = await pollUntilDone(ai, await startOnGeminiApi('simulate:fail'));
    expect(failed.error).toEqual({ code: 13, message: expect.stringMatching(/internal error/) });
    const filtered = await pollUntilDone(ai, await startOnGeminiApi('simulate:filtered'));
    expect(filtered.response?.raiMediaFilteredCount).toBe(1);
    expect(filtered.response?.raiMediaFilteredReasons).toHaveLength(1);
    expect(filtered.response?.generatedVideos).toBeUndefined();
  });

  it('raises ApiError with Google status codes for a wrong key, a missing operation and a rate limit', async () => {
    const wrongKey = await apiErrorOf(gemini('test-gemini-wrong').models.list());
    expect(wrongKey.status).toBe(400);
    expect(wrongKey.message).toContain('API_KEY_INVALID');
    const missing = await apiErrorOf(
      gemini().operations.getVideosOperation({
        operation: Object.assign(new GenerateVideosOperation(), {
          name: 'models/veo-3.1-generate-preview/operations/nosuchop',
        }),
      }),
    );
    expect(missing.status).toBe(404);
    simulator.addFault({ provider: 'google-veo', status: 429, retryAfterSeconds: 5, count: 1 });
    const limited = await apiErrorOf(gemini().models.list());
    expect(limited.status).toBe(429);
    expect(limited.message).toContain('"retryDelay":"5s"');
  });
});

describe('@google/genai against the simulator (Vertex AI, service account)', () => {
  /**
   * The SDK fetches Vertex tokens through google-auth-library, which always posts to Google's own
   * token URL (it ignores token_uri). So the token comes from the simulator's token endpoint through
   * Keyhaven's JWT bearer grant, and the SDK gets it through a minimal auth client.
   */
  async function vertex(project?: string) {
    const account = createTestServiceAccount(simulator);
    const token = await vertexAccessToken(parseServiceAccount(account.json), {
      fetch: globalThis.fetch,
      now: Date.now,
    });
    const authClient = {
      getRequestHeaders: async () => new Headers({ authorization: `Bearer ${token.reveal()}` }),
    } as unknown as NonNullable<GoogleGenAIOptions['googleAuthOptions']>['authClient'];
    return new GoogleGenAI({
      vertexai: true,
      project: project ?? account.projectId,
      location: 'us-central1',
      googleAuthOptions: { authClient },
      httpOptions: { baseUrl: simulator.baseURL('google-veo') },
    });
  }

  it('generates videos and polls them with fetchPredictOperation until the bytes arrive', async () => {
    const ai = await vertex();
    const operation = await ai.models.generateVideos({
      model: 'veo-3.0-generate-001',
      source: { prompt: 'A hot-air balloon over hills' },
      config: { numberOfVideos: 1, durationSeconds: 4, aspectRatio: '9:16', seed: 11 },
    });
    expect(operation.name).toMatch(
      /^projects\/keyhaven-sim\/locations\/us-central1\/publishers\/google\/models\/veo-3\.0-generate-001\/operations\//,
    );
    const predict = simulator.requests.find((request) => request.path.endsWith(':predictLongRunning'));
    expect(JSON.parse(predict?.body ?? '')).toMatchObject({
      instances: [{ prompt: 'A hot-air balloon over hills' }],
      parameters: { sampleCount: 1, durationSeconds: 4, aspectRatio: '9:16', seed: 11 },
    });
    expect(predict?.headers.authorization).toMatch(/^Bearer ya29\./);
    const done = await pollUntilDone(ai, operation);
    const generated = done.response?.generatedVideos?.[0]?.video;
    expect(generated?.mimeType).toBe('video/mp4');
    expect(Buffer.from(generated?.videoBytes ?? '', 'base64')).toEqual(SIMULATED_MP4);
    expect(
      simulator.requests.filter((request) => request.path.endsWith(':fetchPredictOperation')),
    ).toHaveLength(3);
  });

  it('returns gs:// URIs when the caller gives an output bucket', async () => {
    const ai = await vertex();
    const operation = await ai.models.generateVideos({
      model: 'veo-3.0-fast-generate-001',
      source: { prompt: 'Rain on a window' },
      config: { outputGcsUri: 'gs://keyhaven-test-bucket/veo' },
    });
    const done = await pollUntilDone(ai, operation);
    expect(done.response?.generatedVideos?.[0]?.video?.uri).toMatch(
      /^gs:\/\/keyhaven-test-bucket\/veo\/[0-9a-f-]+\/sample_0\.mp4$/,
    );
  });

  it('raises ApiError 403 for a project the account has no role on', async () => {
    const ai = await vertex('someone-elses-project');
    const denied = await apiErrorOf(
      ai.models.generateVideos({ model: 'veo-3.0-generate-001', source: { prompt: 'x' } }),
    );
    expect(denied.status).toBe(403);
    expect(denied.message).toContain('PERMISSION_DENIED');
  });
});
