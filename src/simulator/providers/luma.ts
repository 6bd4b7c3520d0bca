import type { SimulatedJob } from '../jobs.ts';
import type { ErrorOptions, ProviderSimulation, Route, RouteContext, SimulatedError } from '../types.ts';

/**
 * Luma's Dream Machine API (lumalabs/lumaai-node; docs.lumalabs.ai): Bearer keys, `GET /credits`,
 * `POST /generations/video` answered with a Generation object, `GET /generations/{id}` moving
 * queued -> dreaming -> completed (assets.video, a public CDN URL) or failed (failure_reason), and
 * `DELETE /generations/{id}`. Errors are FastAPI's `{"detail": "…"}`, and for a body that fails
 * validation `{"detail": [{"type","loc","msg","input"}]}` with a 422.
 */
export const LUMA_PREFIX = '/luma';
const API = '/dream-machine/v1';
export const LUMA_TEST_KEYS = ['luma-test-key-1', 'luma-test-key-2'] as const;

const MODELS = ['ray-2', 'ray-flash-2', 'ray-1-6'];
const DURATIONS = ['5s', '9s'];
const RESOLUTIONS = ['540p', '720p', '1080p', '4k'];
const ASPECT_RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4', '21:9', '9:21'];
const POLLS_TO_FINISH = 3;

/** The smallest thing a player recognises as an MP4: an ftyp box and an empty mdat box. */
const SIMULATED_MP4 = Buffer.from('000000186674797069736f6d0000020069736f6d6d703431000000086d646174', 'hex');

/** Failure reasons from Luma's error documentation: one for its own failures, one for moderation. */
export const LUMA_FAILURE_REASONS = {
  internal: 'Prompt processing failed',
  moderation: 'Advanced prompt moderation failed',
} as const;

function detail(status: number, message: string, headers?: Record<string, string>): SimulatedError {
  return { status, body: { detail: message }, ...(headers ? { headers } : {}) };
}

function lumaError(
  status: number,
  { retryAfterSeconds, quotaExhausted, message }: ErrorOptions,
): SimulatedError {
  if (quotaExhausted || status === 402) return detail(402, message ?? 'Insufficient credits');
  switch (status) {
    case 401:
      return detail(401, message ?? 'Invalid API key');
    case 403:
      return detail(403, message ?? 'Access denied');
    case 404:
      return detail(404, message ?? 'Not Found');
    case 429:
      return detail(
        429,
        message ?? 'Rate limit exceeded',
        retryAfterSeconds === undefined ? undefined : { 'retry-after': String(retryAfterSeconds) },
      );
    case 500:
      return detail(500, message ?? 'Internal Server Error');
    case 529:
    case 503:
      return detail(503, message ?? 'Service Unavailable');
    default:
      return detail(status, message ?? 'Bad Request');
  }
}

interface GenerationRequest {
  generation_type: 'video';
  model: string;
  prompt: string;
  aspect_ratio: string;
  loop: boolean;
  duration: string;
  resolution: string;
  keyframes?: Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Pydantic's 422 for a field outside its literal set. */
function literalError(field: string, allowed: readonly string[], input: unknown): SimulatedError {
  const choices = allowed.map((value) => `'${value}'`);
  const last = choices.pop();
  return {
    status: 422,
    body: {
      detail: [
        {
          type: 'literal_error',
          loc: ['body', field],
          msg: `Input should be ${choices.length > 0 ? `${choices.join(', ')} or ${last}` : last}`,
          input,
        },
      ],
    },
  };
}

function readRequest(json: unknown): GenerationRequest | SimulatedError {
  const body = isRecord(json) ? json : {};
  const model = body.model ?? 'ray-2';
  if (typeof model !== 'string' || !MODELS.includes(model)) return literalError('model', MODELS, model);
  const duration = body.duration ?? '5s';
  if (typeof duration !== 'string' || !DURATIONS.includes(duration))
    return literalError('duration', DURATIONS, duration);
  const resolution = body.resolution ?? '720p';
  if (typeof resolution !== 'string' || !RESOLUTIONS.includes(resolution))
    return literalError('resolution', RESOLUTIONS, resolution);
  const aspectRatio = body.aspect_ratio ?? '16:9';
  if (typeof aspectRatio !== 'string' || !ASPECT_RATIOS.includes(aspectRatio))
    return literalError('aspect_ratio', ASPECT_RATIOS, aspectRatio);
  const keyframes = isRecord(body.keyframes) ? body.keyframes : undefined;
  for (const frame of Object.values(keyframes ?? {})) {
    if (!isRecord(frame)) return detail(400, 'No keyframes provided');
    if (frame.type === 'image' && (typeof frame.url !== 'string' || !/^https?:\/\//.test(frame.url))) {
      return detail(400, 'Failed to read user input frames');
    }
  }
  const prompt = typeof body.prompt === 'string' ? body.prompt : '';
  if (!prompt && !keyframes) return detail(400, 'Prompt is required');
  if (prompt && prompt.length < 3) return detail(400, 'Prompt is too short, minimum length is 3 characters');
  if (prompt.length > 5000) return detail(400, 'Prompt is too long, maximum length is 5000 characters');
  const loop = body.loop === true;
  if (loop && keyframes?.frame1) return detail(400, 'Loop is not supported for end frame');
  return {
    generation_type: 'video',
    model,
    prompt,
    aspect_ratio: aspectRatio,
    loop,
    duration,
    resolution,
    ...(keyframes ? { keyframes } : {}),
  };
}

const requests = new Map<string, GenerationRequest>();

function remember(id: string, request: GenerationRequest): void {
  requests.set(id, request);
  // Bounded: a long-running simulator forgets the oldest generations' requests.
  if (requests.size > 10_000) {
    const oldest = requests.keys().next();
    if (!oldest.done) requests.delete(oldest.value);
  }
}

function generation(context: RouteContext, job: SimulatedJob) {
  const state = context.jobs.state(job);
  const request = requests.get(job.id);
  const base = {
    id: job.id,
    generation_type: 'video' as const,
    model: job.model,
    created_at: job.createdAt.toISOString(),
    request: request ?? null,
  };
  const cdn = `${context.origin}${LUMA_PREFIX}/cdn/dream_machine/${job.id}`;
  if (state === 'succeeded') {
    return {
      ...base,
      state: 'completed',
      failure_reason: null,
      assets: { video: `${cdn}/video.mp4`, image: `${cdn}/thumbnail.jpg`, progress_video: null },
    };
  }
  if (state === 'failed') {
    const moderation = job.prompt.includes('simulate:fail');
    return {
      ...base,
      state: 'failed',
      failure_reason: moderation ? LUMA_FAILURE_REASONS.moderation : LUMA_FAILURE_REASONS.internal,
      assets: null,
    };
  }
  return { ...base, state: state === 'running' ? 'dreaming' : 'queued', failure_reason: null, assets: null };
}

/** The generation a key may see: Luma answers 404 for another account's or a deleted one. */
function ownJob(context: RouteContext): SimulatedJob | undefined {
  const job = context.jobs.get(context.params.id ?? '');
  if (job?.provider !== 'luma' || job.key !== context.key || job.cancelled) return undefined;
  return job;
}

const credits: Route = {
  method: 'GET',
  path: `${API}/credits`,
  handle: (context) => context.send(200, { credit_balance: 125_000 }),
};

function create(context: RouteContext): void {
  const request = readRequest(context.json);
  if ('status' in request) {
    context.sendError(request);
    return;
  }
  const job = context.jobs.create({
    provider: 'luma',
    key: context.key ?? '',
    model: request.model,
    prompt: request.prompt,
    durationSeconds: Number.parseInt(request.duration, 10),
    resolution: request.resolution,
    pollsToFinish: POLLS_TO_FINISH,
    fails: Boolean(context.fault.jobFailure) || request.prompt.includes('simulate:fail'),
  });
  remember(job.id, request);
  context.send(201, generation(context, job));
}

const routes: Route[] = [
  credits,
  { method: 'POST', path: `${API}/generations/video`, handle: create },
  // The older, generic endpoint the SDK used before /generations/video.
  { method: 'POST', path: `${API}/generations`, handle: create },
  {
    method: 'GET',
    path: `${API}/generations/:id`,
    handle(context) {
      if (!ownJob(context)) return context.sendError(detail(404, 'Generation not found'));
      const job = context.jobs.poll(context.params.id ?? '');
      if (!job) return context.sendError(detail(404, 'Generation not found'));
      context.send(200, generation(context, job));
    },
  },
  {
    method: 'GET',
    path: `${API}/generations`,
    handle(context) {
      const limit = Math.min(100, Math.max(1, Number(context.query.get('limit') ?? 10) || 10));
      const own = [...requests.keys()]
        .map((id) => context.jobs.get(id))
        .filter((job): job is SimulatedJob => job !== undefined && job.key === context.key && !job.cancelled)
        .reverse();
      const page = own.slice(0, limit);
      context.send(200, {
        generations: page.map((job) => generation(context, job)),
        has_more: own.length > page.length,
        count: page.length,
      });
    },
  },
  {
    method: 'DELETE',
    path: `${API}/generations/:id`,
    handle(context) {
      if (!ownJob(context)) return context.sendError(detail(404, 'Generation not found'));
      context.jobs.cancel(context.params.id ?? '');
      context.send(204, '');
    },
  },
];

/** Assets live on a public CDN: no key needed to download them. */
const cdn: Route = {
  method: 'GET',
  path: '/cdn/dream_machine/:id/:file',
  handle(context) {
    const job = context.jobs.get(context.params.id ?? '');
    if (job?.provider !== 'luma' || context.jobs.state(job) !== 'succeeded') {
      return context.send(404, '<Error><Code>NoSuchKey</Code></Error>', {
        'content-type': 'application/xml',
      });
    }
    context.send(200, SIMULATED_MP4, { 'content-type': 'video/mp4' });
  },
};

export const lumaSimulation: ProviderSimulation = {
  id: 'luma',
  prefix: LUMA_PREFIX,
  sdkBasePath: API,
  defaultKeys: LUMA_TEST_KEYS,
  extractKey(request) {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    return match?.[1];
  },
  unauthorized: (key) => detail(401, key === undefined ? 'Not authenticated' : 'Invalid API key'),
  error: lumaError,
  routes,
  publicRoutes: [cdn],
};
