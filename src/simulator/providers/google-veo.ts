import { randomBytes, randomUUID } from 'node:crypto';
import type { SimulatedJob } from '../jobs.ts';
import type { ProviderSimulation, Route, RouteContext, SimulatedError } from '../types.ts';
import {
  accessTokenRefused,
  apiKeyRefused,
  googleError,
  googleErrorFor,
  permissionDenied,
} from './google-veo-errors.ts';
import {
  createServiceAccountRegistry,
  type ServiceAccountRegistry,
  type SimulatedServiceAccount,
} from './google-veo-vertex.ts';

/**
 * Veo, both ways Google sells it, under one prefix: the Gemini API (API key in `x-goog-api-key`,
 * `predictLongRunning`, operations polled with GET, videos downloaded from the Files API) and Vertex AI
 * (service-account access tokens from the token endpoint, `predictLongRunning`, operations polled with
 * `fetchPredictOperation`, videos returned inline or as gs:// URIs). Jobs finish after a few polls.
 */
export const GOOGLE_VEO_PREFIX = '/veo';
/** The key the simulator core sees for a request carrying a live service-account access token. */
export const SERVICE_ACCOUNT_KEY = 'vertex-service-account-token';
export const GOOGLE_VEO_TEST_KEYS = ['test-gemini-veo-key-1', 'test-gemini-veo-key-2'] as const;

/** A bearer token this simulation did not issue (or that expired): refused as Vertex refuses it. */
const UNKNOWN_BEARER = 'unknown-bearer:';

interface SimulatedModel {
  displayName: string;
  durations: readonly number[];
  resolutions: readonly string[];
}

const MODELS: Readonly<Record<string, SimulatedModel>> = {
  'veo-3.1-generate-preview': {
    displayName: 'Veo 3.1',
    durations: [4, 6, 8],
    resolutions: ['720p', '1080p', '4k'],
  },
  'veo-3.1-fast-generate-preview': {
    displayName: 'Veo 3.1 fast',
    durations: [4, 6, 8],
    resolutions: ['720p', '1080p', '4k'],
  },
  'veo-3.0-generate-001': { displayName: 'Veo 3', durations: [4, 6, 8], resolutions: ['720p', '1080p'] },
  'veo-3.0-fast-generate-001': {
    displayName: 'Veo 3 fast',
    durations: [4, 6, 8],
    resolutions: ['720p', '1080p'],
  },
  'veo-2.0-generate-001': { displayName: 'Veo 2', durations: [5, 6, 7, 8], resolutions: ['720p'] },
};

const ASPECT_RATIOS = ['16:9', '9:16'];
const MAX_SEED = 4_294_967_295;

/** The smallest thing a player recognises as an MP4: an ftyp box and an empty mdat box. */
export const SIMULATED_MP4 = Buffer.from(
  '000000186674797069736f6d0000020069736f6d6d703431000000086d646174',
  'hex',
);

interface VideoJobExtra {
  sampleCount: number;
  storageUri?: string;
  filtered: boolean;
}

interface PredictRequest extends VideoJobExtra {
  prompt: string;
  durationSeconds: number;
  resolution: string;
}

const RAI_REASON =
  "Sorry, we can't create videos from input images containing photorealistic children. Please update your input and try again. Support codes: 58061214";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a predictLongRunning body the way the API does, or says what is wrong in Google's words. */
function readPredictBody(
  json: unknown,
  modelId: string,
  api: 'gemini' | 'vertex',
): PredictRequest | SimulatedError {
  const model = MODELS[modelId];
  if (!model) {
    return googleError(
      404,
      `models/${modelId} is not found for API version ${api === 'gemini' ? 'v1beta' : 'v1beta1'}, or is not supported for predictLongRunning. Call ListModels to see the list of available models and their supported methods.`,
    );
  }
  const instances = isRecord(json) ? json.instances : undefined;
  const instance = Array.isArray(instances) && instances.length === 1 ? instances[0] : undefined;
  if (!isRecord(instance)) return googleError(400, 'instances must hold exactly one instance.');
  const prompt = typeof instance.prompt === 'string' ? instance.prompt : '';
  if (instance.image !== undefined) {
    const image = instance.image;
    const inline =
      isRecord(image) && typeof image.bytesBase64Encoded === 'string' && typeof image.mimeType === 'string';
    const stored = api === 'vertex' && isRecord(image) && typeof image.gcsUri === 'string';
    if (!inline && !stored) {
      return googleError(400, 'image must carry bytesBase64Encoded and mimeType.');
    }
  } else if (!prompt.trim()) {
    return googleError(400, 'A text prompt is required when no image is given.');
  }
  const parameters = isRecord(json) && isRecord(json.parameters) ? json.parameters : {};
  const durationSeconds = parameters.durationSeconds ?? 8;
  if (typeof durationSeconds !== 'number' || !model.durations.includes(durationSeconds)) {
    return googleError(
      400,
      `The number value for durationSeconds is out of bound. Supported values for ${modelId}: ${model.durations.join(', ')}.`,
    );
  }
  const resolution = parameters.resolution ?? '720p';
  if (typeof resolution !== 'string' || !model.resolutions.includes(resolution)) {
    return googleError(400, `resolution must be one of ${model.resolutions.join(', ')} for ${modelId}.`);
  }
  const aspectRatio = parameters.aspectRatio ?? '16:9';
  if (typeof aspectRatio !== 'string' || !ASPECT_RATIOS.includes(aspectRatio)) {
    return googleError(400, `aspectRatio must be one of ${ASPECT_RATIOS.join(', ')}.`);
  }
  const sampleCount = parameters.sampleCount ?? 1;
  if (
    typeof sampleCount !== 'number' ||
    !Number.isInteger(sampleCount) ||
    sampleCount < 1 ||
    sampleCount > 4
  ) {
    return googleError(400, 'sampleCount must be an integer from 1 to 4.');
  }
  if (parameters.seed !== undefined) {
    // The seed is a Vertex parameter; the Gemini API refuses it.
    if (api === 'gemini') return googleError(400, "`seed` isn't supported by this model.");
    const seed = parameters.seed;
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      return googleError(400, `seed must be an integer from 0 to ${MAX_SEED}.`);
    }
  }
  const storageUri = typeof parameters.storageUri === 'string' ? parameters.storageUri : undefined;
  return {
    prompt,
    durationSeconds,
    resolution,
    sampleCount,
    filtered: prompt.includes('simulate:filtered'),
    ...(api === 'vertex' && storageUri ? { storageUri } : {}),
  };
}

export interface GoogleVeoSimulationOptions {
  /** The clock of the token endpoint and of access-token expiry (tests move it forward). */
  now?: () => number;
  tokenLifetimeSeconds?: number;
  pollsToFinish?: number;
}

export interface GoogleVeoSimulation extends ProviderSimulation {
  /** Makes a service account known to the token endpoint (see createTestServiceAccount). */
  registerServiceAccount(account: SimulatedServiceAccount): void;
  /** Every access token the token endpoint issued. */
  issuedAccessTokens(): string[];
}

export function createGoogleVeoSimulation({
  now = Date.now,
  tokenLifetimeSeconds = 3599,
  pollsToFinish = 3,
}: GoogleVeoSimulationOptions = {}): GoogleVeoSimulation {
  const serviceAccounts: ServiceAccountRegistry = createServiceAccountRegistry({
    prefix: GOOGLE_VEO_PREFIX,
    now,
    tokenLifetimeSeconds,
  });
  const extras = new Map<string, VideoJobExtra>();
  /** Files API names of finished videos -> the job that made them. */
  const files = new Map<string, string>();

  function remember(id: string, extra: VideoJobExtra): void {
    extras.set(id, extra);
    // Bounded: a long-running simulator forgets the oldest jobs' details.
    if (extras.size > 10_000) {
      const oldest = extras.keys().next();
      if (!oldest.done) extras.delete(oldest.value);
    }
  }

  function createJob(
    context: RouteContext,
    id: string,
    model: string,
    request: PredictRequest,
  ): SimulatedJob {
    const job = context.jobs.create({
      id,
      provider: 'google-veo',
      key: context.key ?? '',
      model,
      prompt: request.prompt,
      durationSeconds: request.durationSeconds,
      resolution: request.resolution,
      pollsToFinish,
      fails: Boolean(context.fault.jobFailure) || request.prompt.includes('simulate:fail'),
    });
    remember(id, {
      sampleCount: request.sampleCount,
      filtered: request.filtered,
      ...(request.storageUri ? { storageUri: request.storageUri } : {}),
    });
    return job;
  }

  /** The end of an operation, shared by both APIs: undefined while it runs. */
  function outcome(context: RouteContext, job: SimulatedJob) {
    const state = context.jobs.state(job);
    if (state === 'pending' || state === 'running') return undefined;
    if (state === 'cancelled') return { error: { code: 1, message: 'The operation was cancelled.' } };
    if (state === 'failed') {
      return {
        error: {
          code: 13,
          message: 'Video generation failed due to an internal error. Please try again later.',
        },
      };
    }
    const extra = extras.get(job.id) ?? { sampleCount: 1, filtered: false };
    return { extra };
  }

  // --- Gemini API -------------------------------------------------------------------------------

  /** The Gemini API serves v1beta (the reference, and Keyhaven) and v1 (@google/genai 3.x's default). */
  const isGeminiVersion = (context: RouteContext) =>
    context.params.version === 'v1beta' || context.params.version === 'v1';

  const modelResource = (id: string, model: SimulatedModel) => ({
    name: `models/${id}`,
    version: id.replace(/^veo-(\d+\.\d+).*$/, '$1'),
    displayName: model.displayName,
    description: `${model.displayName}: video generation from text and images`,
    supportedGenerationMethods: ['predictLongRunning'],
  });

  const listModels: Route = {
    method: 'GET',
    path: '/:version/models',
    handle(context) {
      if (!isGeminiVersion(context))
        return context.sendError(googleError(404, `Unknown path ${context.path}`));
      const pageSize = Math.min(1000, Math.max(1, Number(context.query.get('pageSize') ?? 50) || 50));
      const start = Math.max(0, Number(context.query.get('pageToken') ?? 0) || 0);
      const entries = Object.entries(MODELS);
      const page = entries.slice(start, start + pageSize);
      const next = start + pageSize;
      context.send(200, {
        models: page.map(([id, model]) => modelResource(id, model)),
        ...(next < entries.length ? { nextPageToken: String(next) } : {}),
      });
    },
  };

  const getModel: Route = {
    method: 'GET',
    path: '/:version/models/:model',
    handle(context) {
      if (!isGeminiVersion(context))
        return context.sendError(googleError(404, `Unknown path ${context.path}`));
      const id = context.params.model ?? '';
      const model = MODELS[id];
      if (!model) return context.sendError(googleError(404, `Model models/${id} is not found.`));
      context.send(200, modelResource(id, model));
    },
  };

  const geminiPredict: Route = {
    method: 'POST',
    path: '/:version/models/:model:predictLongRunning',
    handle(context) {
      if (!isGeminiVersion(context))
        return context.sendError(googleError(404, `Unknown path ${context.path}`));
      const model = context.params.model ?? '';
      const request = readPredictBody(context.json, model, 'gemini');
      if ('status' in request) return context.sendError(request);
      // Gemini operation ids are short lower-case strings: models/veo-…/operations/pu6tlo0z17ao.
      const id = randomBytes(9)
        .toString('base64url')
        .toLowerCase()
        .replace(/[^a-z0-9]/g, '0');
      createJob(context, id, model, request);
      context.send(200, { name: `models/${model}/operations/${id}` });
    },
  };

  const geminiOperation: Route = {
    method: 'GET',
    path: '/:version/models/:model/operations/:id',
    handle(context) {
      if (!isGeminiVersion(context))
        return context.sendError(googleError(404, `Unknown path ${context.path}`));
      const { model = '', id = '' } = context.params;
      const existing = context.jobs.get(id);
      // An operation belongs to the project (here: the key) that started it.
      if (!existing || existing.key !== context.key || existing.model !== model || !extras.has(id)) {
        return context.sendError(googleError(404, `Operation models/${model}/operations/${id} not found.`));
      }
      const job = context.jobs.poll(id) ?? existing;
      const name = `models/${model}/operations/${id}`;
      const result = outcome(context, job);
      if (!result) return context.send(200, { name });
      if ('error' in result) return context.send(200, { name, done: true, error: result.error });
      const type = 'type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse';
      if (result.extra.filtered) {
        return context.send(200, {
          name,
          done: true,
          response: {
            '@type': type,
            generateVideoResponse: { raiMediaFilteredCount: 1, raiMediaFilteredReasons: [RAI_REASON] },
          },
        });
      }
      const samples = Array.from({ length: result.extra.sampleCount }, (_, index) => {
        const file = `${id}v${index}`;
        files.set(file, id);
        return {
          video: { uri: `${context.origin}${GOOGLE_VEO_PREFIX}/v1beta/files/${file}:download?alt=media` },
        };
      });
      context.send(200, {
        name,
        done: true,
        response: { '@type': type, generateVideoResponse: { generatedSamples: samples } },
      });
    },
  };

  const download: Route = {
    method: 'GET',
    path: '/:version/files/:file:download',
    handle(context) {
      if (!isGeminiVersion(context))
        return context.sendError(googleError(404, `Unknown path ${context.path}`));
      const jobId = files.get(context.params.file ?? '');
      const job = jobId === undefined ? undefined : context.jobs.get(jobId);
      if (!job || job.key !== context.key) {
        return context.sendError(
          googleError(403, 'You do not have permission to access the File or it may not exist.'),
        );
      }
      context.send(200, SIMULATED_MP4, { 'content-type': 'video/mp4' });
    },
  };

  // --- Vertex AI --------------------------------------------------------------------------------

  const vertexModelPath = '/:version/projects/:project/locations/:location/publishers/google/models/:model';

  /** The service account behind the request, or the error Vertex sends; checks the project's IAM. */
  function authorize(context: RouteContext): SimulatedServiceAccount | SimulatedError {
    const version = context.params.version;
    if (version !== 'v1' && version !== 'v1beta1') return googleError(404, `Unknown path ${context.path}`);
    const account = serviceAccounts.accountFor(context.request);
    if (!account) return accessTokenRefused();
    const { project = '', location = '', model = '' } = context.params;
    if (!account.allowed || account.projectId !== project) return permissionDenied(project, location, model);
    return account;
  }

  const vertexPredict: Route = {
    method: 'POST',
    path: `${vertexModelPath}:predictLongRunning`,
    handle(context) {
      const account = authorize(context);
      if ('status' in account) return context.sendError(account);
      const { project = '', location = '', model = '' } = context.params;
      const request = readPredictBody(context.json, model, 'vertex');
      if ('status' in request) return context.sendError(request);
      const id = randomUUID();
      createJob(context, id, model, request);
      context.send(200, {
        name: `projects/${project}/locations/${location}/publishers/google/models/${model}/operations/${id}`,
      });
    },
  };

  const vertexFetch: Route = {
    method: 'POST',
    path: `${vertexModelPath}:fetchPredictOperation`,
    handle(context) {
      const account = authorize(context);
      if ('status' in account) return context.sendError(account);
      const { project = '', location = '', model = '' } = context.params;
      const operationName = isRecord(context.json) ? context.json.operationName : undefined;
      const prefix = `projects/${project}/locations/${location}/publishers/google/models/${model}/operations/`;
      if (typeof operationName !== 'string' || !operationName.startsWith(prefix)) {
        return context.sendError(googleError(400, 'operationName must name an operation of this model.'));
      }
      const id = operationName.slice(prefix.length);
      if (!context.jobs.get(id) || !extras.has(id)) {
        return context.sendError(googleError(404, `Operation ${operationName} not found.`));
      }
      const job = context.jobs.poll(id);
      if (!job) return context.sendError(googleError(404, `Operation ${operationName} not found.`));
      const result = outcome(context, job);
      if (!result) return context.send(200, { name: operationName });
      if ('error' in result)
        return context.send(200, { name: operationName, done: true, error: result.error });
      const type = 'type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse';
      if (result.extra.filtered) {
        return context.send(200, {
          name: operationName,
          done: true,
          response: { '@type': type, raiMediaFilteredCount: 1, raiMediaFilteredReasons: [RAI_REASON] },
        });
      }
      const { storageUri } = result.extra;
      const videos = Array.from({ length: result.extra.sampleCount }, (_, index) =>
        storageUri
          ? { gcsUri: `${storageUri.replace(/\/+$/, '')}/${id}/sample_${index}.mp4`, mimeType: 'video/mp4' }
          : { bytesBase64Encoded: SIMULATED_MP4.toString('base64'), mimeType: 'video/mp4' },
      );
      context.send(200, {
        name: operationName,
        done: true,
        response: { '@type': type, raiMediaFilteredCount: 0, videos },
      });
    },
  };

  /** Free and authenticated: the cheapest call that proves a service account may predict. */
  const vertexCountTokens: Route = {
    method: 'POST',
    path: `${vertexModelPath}:countTokens`,
    handle(context) {
      const account = authorize(context);
      if ('status' in account) return context.sendError(account);
      const text = JSON.stringify(isRecord(context.json) ? (context.json.contents ?? '') : '');
      const tokens = Math.max(1, Math.ceil(text.length / 4));
      context.send(200, { totalTokens: tokens, totalBillableCharacters: text.length });
    },
  };

  return {
    id: 'google-veo',
    prefix: GOOGLE_VEO_PREFIX,
    sdkBasePath: '',
    defaultKeys: [...GOOGLE_VEO_TEST_KEYS, SERVICE_ACCOUNT_KEY],
    extractKey(request, query) {
      const token = serviceAccounts.bearerToken(request);
      if (token !== undefined) {
        return serviceAccounts.isLiveToken(token) ? SERVICE_ACCOUNT_KEY : `${UNKNOWN_BEARER}${token}`;
      }
      const header = request.headers['x-goog-api-key'];
      // Older clients send ?key=; the header is what the SDKs (and Keyhaven) use.
      const key = (Array.isArray(header) ? header[0] : header) ?? query.get('key') ?? undefined;
      // The name that stands for "a live access token" is not a usable API key.
      return key === SERVICE_ACCOUNT_KEY ? '' : key;
    },
    unauthorized(key) {
      return key?.startsWith(UNKNOWN_BEARER) ? accessTokenRefused() : apiKeyRefused(key);
    },
    error: googleErrorFor,
    routes: [
      listModels,
      getModel,
      geminiPredict,
      geminiOperation,
      download,
      vertexPredict,
      vertexFetch,
      vertexCountTokens,
    ],
    publicRoutes: [serviceAccounts.tokenRoute],
    registerServiceAccount: (account) => serviceAccounts.register(account),
    issuedAccessTokens: () => serviceAccounts.issuedTokens(),
  };
}

/** The default simulation, with the real clock. */
export const googleVeoSimulation: GoogleVeoSimulation = createGoogleVeoSimulation();
