import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { SimulatedJob } from '../jobs.ts';
import type { ErrorOptions, ProviderSimulation, RouteContext, SimulatedError } from '../types.ts';

/**
 * Runway's API as the simulator plays it: `/v1/organization`, text_to_video and image_to_video
 * creating tasks, `GET`/`DELETE /v1/tasks/{id}` (a deleted task then answers 404, as at Runway), and
 * the task's output file. Every request needs `X-Runway-Version`, as at Runway. A task is PENDING at its first poll, RUNNING at the next and
 * finished at the third; it fails under the jobFailure fault (INTERNAL.BAD_OUTPUT, retryable) or with
 * "simulate:fail" in its prompt (SAFETY.INPUT.TEXT, not retryable). Errors are Runway's
 * `{"error": "...", "docUrl": ...}`; bodies that fail validation add `issues`, as Runway does.
 */
const PREFIX = '/runway';
const VERSION = '2024-11-06';
const DOC_URL = 'https://docs.dev.runwayml.com/api';
const POLLS_TO_FINISH = 3;

interface ModelRules {
  durations: readonly number[];
  textRatios: readonly string[];
  imageRatios: readonly string[];
  /** Credits per second, for estimatedCost and cost (1 credit = USD 0.01). */
  creditsPerSecond: number;
  promptRequired: boolean;
}

const GEN4_TEXT = ['1280:720', '720:1280'];
const GEN4_IMAGE = ['1280:720', '720:1280', '1104:832', '832:1104', '960:960', '1584:672'];
const VEO = ['1280:720', '720:1280', '1080:1920', '1920:1080'];
const TWO_TO_TEN = [2, 3, 4, 5, 6, 7, 8, 9, 10];

const MODELS: Readonly<Record<string, ModelRules>> = {
  gen4_turbo: {
    durations: TWO_TO_TEN,
    textRatios: [],
    imageRatios: GEN4_IMAGE,
    creditsPerSecond: 5,
    promptRequired: false,
  },
  'gen4.5': {
    durations: TWO_TO_TEN,
    textRatios: GEN4_TEXT,
    imageRatios: GEN4_IMAGE,
    creditsPerSecond: 12,
    promptRequired: true,
  },
  'veo3.1': {
    durations: [4, 6, 8],
    textRatios: VEO,
    imageRatios: VEO,
    creditsPerSecond: 40,
    promptRequired: false,
  },
  'veo3.1_fast': {
    durations: [4, 6, 8],
    textRatios: VEO,
    imageRatios: VEO,
    creditsPerSecond: 15,
    promptRequired: false,
  },
};

/** A 24-byte MP4 `ftyp` box: enough for a client to see an MP4 without shipping a video. */
const SAMPLE_VIDEO = Buffer.from('00000018667479706d703432000000006d70343269736f6d', 'hex');

const runwayError = (status: number, error: string, headers?: Record<string, string>): SimulatedError => ({
  status,
  body: { error, docUrl: DOC_URL },
  ...(headers ? { headers } : {}),
});

interface Issue {
  code: string;
  message: string;
  path: (string | number)[];
}

function validationFailed(issues: Issue[]): SimulatedError {
  return { status: 400, body: { error: 'Validation of body failed', issues, docUrl: DOC_URL } };
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

/** Runway refuses a request without the version header before anything else. */
function versionProblem(context: RouteContext): SimulatedError | undefined {
  const version = context.request.headers['x-runway-version'];
  if (version === undefined || version === '')
    return runwayError(
      400,
      'You must provide an X-Runway-Version header. The current version is 2024-11-06.',
    );
  if (version !== VERSION)
    return runwayError(
      400,
      `The API version ${String(version).slice(0, 40)} is not a valid X-Runway-Version.`,
    );
  return undefined;
}

function isImageReference(value: unknown): boolean {
  if (typeof value === 'string')
    return /^https:\/\/[^/\d][^/]*\//.test(value) || /^data:image\/[a-z0-9.+-]+;base64,./i.test(value);
  if (Array.isArray(value))
    return (
      value.length > 0 &&
      value.every(
        (entry) =>
          typeof entry === 'object' &&
          entry !== null &&
          isImageReference((entry as { uri?: unknown }).uri) &&
          ['first', 'last'].includes(String((entry as { position?: unknown }).position)),
      )
    );
  return false;
}

function checkTaskBody(body: unknown, withImage: boolean): { issues: Issue[]; rules?: ModelRules } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { issues: [{ code: 'invalid_type', message: 'Expected object, received none', path: [] }] };
  const fields = body as Record<string, unknown>;
  const issues: Issue[] = [];
  const model = typeof fields.model === 'string' ? fields.model : '';
  const rules = MODELS[model];
  const ratios = rules ? (withImage ? rules.imageRatios : rules.textRatios) : [];
  if (!rules || ratios.length === 0) {
    issues.push({ code: 'invalid_union_discriminator', message: 'Invalid model', path: ['model'] });
    return { issues };
  }
  const prompt = fields.promptText;
  if (prompt !== undefined && (typeof prompt !== 'string' || prompt.length === 0 || prompt.length > 1000))
    issues.push({ code: 'custom', message: 'promptText must be 1 to 1000 characters', path: ['promptText'] });
  if (prompt === undefined && (rules.promptRequired || !withImage))
    issues.push({ code: 'invalid_type', message: 'Required', path: ['promptText'] });
  if (withImage && !isImageReference(fields.promptImage))
    issues.push({
      code: 'custom',
      message: 'Invalid URL. Only HTTPS URLs are allowed.',
      path: ['promptImage'],
    });
  if (!ratios.includes(String(fields.ratio)))
    issues.push({ code: 'invalid_enum_value', message: `Expected ${ratios.join(' | ')}`, path: ['ratio'] });
  if (fields.duration !== undefined && !rules.durations.includes(Number(fields.duration)))
    issues.push({ code: 'custom', message: 'Invalid duration', path: ['duration'] });
  const seed = fields.seed;
  if (seed !== undefined && !(Number.isInteger(seed) && Number(seed) >= 0 && Number(seed) <= 4_294_967_295))
    issues.push({ code: 'custom', message: 'Invalid seed', path: ['seed'] });
  return { issues, rules };
}

const creditsOf = (job: SimulatedJob) => (MODELS[job.model]?.creditsPerSecond ?? 10) * job.durationSeconds;

function createTask(withImage: boolean) {
  return (context: RouteContext) => {
    const problem = versionProblem(context);
    if (problem) return context.sendError(problem);
    if (context.json === undefined)
      return context.sendError(runwayError(400, 'The request body must be JSON.'));
    const { issues, rules } = checkTaskBody(context.json, withImage);
    if (issues.length > 0 || !rules) return context.sendError(validationFailed(issues));
    const fields = context.json as Record<string, unknown>;
    const prompt = typeof fields.promptText === 'string' ? fields.promptText : '';
    const job = context.jobs.create({
      provider: 'runway',
      key: context.key ?? '',
      model: String(fields.model),
      prompt,
      durationSeconds: Number(fields.duration ?? rules.durations.at(-1)),
      resolution: String(fields.ratio),
      pollsToFinish: POLLS_TO_FINISH,
      fails: Boolean(context.fault.jobFailure) || prompt.includes('simulate:fail'),
    });
    context.send(200, { id: job.id, estimatedCost: { credits: creditsOf(job) } });
  };
}

/**
 * The caller's live task. Tasks belong to the organization whose key created them; others get the
 * same 404 as a missing one. DELETE cancels or deletes a task and Runway then forgets it ("aborted
 * and deleted tasks will not be able to be fetched again"), so a cancelled job reads as missing.
 */
function ownJob(context: RouteContext): SimulatedJob | undefined {
  const job = context.jobs.get(context.params.id ?? '');
  return job && job.provider === 'runway' && job.key === context.key && !job.cancelled ? job : undefined;
}

function taskBody(job: SimulatedJob, context: RouteContext): Record<string, unknown> {
  const base = { id: job.id, createdAt: job.createdAt.toISOString() };
  const estimatedCost = { credits: creditsOf(job) };
  if (job.polls <= 1) return { ...base, status: 'PENDING', estimatedCost };
  if (job.polls < job.pollsToFinish)
    return { ...base, status: 'RUNNING', progress: context.jobs.progress(job), estimatedCost };
  if (job.fails) {
    const safety = job.prompt.includes('simulate:fail');
    return {
      ...base,
      status: 'FAILED',
      failure: safety
        ? 'The prompt text was flagged by content moderation.'
        : 'An internal error occurred while generating the output.',
      failureCode: safety ? 'SAFETY.INPUT.TEXT' : 'INTERNAL.BAD_OUTPUT.CODE01',
      cost: { credits: 0 },
    };
  }
  const token = randomBytes(12).toString('base64url');
  return {
    ...base,
    status: 'SUCCEEDED',
    output: [`${context.origin}${PREFIX}/outputs/${job.id}.mp4?_jwt=${token}`],
    cost: estimatedCost,
  };
}

export const runwaySimulation: ProviderSimulation = {
  id: 'runway',
  prefix: PREFIX,
  sdkBasePath: '',
  defaultKeys: ['key_test_simulator_runway'],
  extractKey: (request) => bearer(request),
  unauthorized: (key) =>
    runwayError(
      401,
      key === undefined
        ? 'No API key was provided. Pass it in the Authorization header as Bearer <key>.'
        : 'The API key you provided is incorrect or has been disabled.',
    ),
  error(status: number, { retryAfterSeconds, quotaExhausted, message }: ErrorOptions): SimulatedError {
    const retryAfter =
      retryAfterSeconds === undefined ? undefined : { 'retry-after': String(retryAfterSeconds) };
    if (status === 429) {
      return quotaExhausted
        ? runwayError(429, 'Your daily task limit has been reached.')
        : runwayError(429, message ?? 'You have made too many requests. Please slow down.', retryAfter);
    }
    if (status === 400 && quotaExhausted)
      return runwayError(400, 'You do not have enough credits to run this task.');
    const defaults: Record<number, string> = {
      400: 'Bad request.',
      401: 'The API key you provided is incorrect or has been disabled.',
      403: 'You do not have permission to use this resource.',
      404: 'Not found.',
      500: 'An internal error occurred.',
      502: 'Runway is shedding load. Please retry.',
      503: 'Runway is shedding load. Please retry.',
      504: 'Runway is overloaded and could not satisfy the request.',
    };
    return runwayError(status, message ?? defaults[status] ?? 'An error occurred.', retryAfter);
  },
  routes: [
    {
      method: 'GET',
      path: '/v1/organization',
      handle(context) {
        const problem = versionProblem(context);
        if (problem) return context.sendError(problem);
        const limits = { maxConcurrentGenerations: 2, maxDailyGenerations: 50 };
        context.send(200, {
          creditBalance: 1250,
          tier: {
            maxMonthlyCreditSpend: 10_000,
            models: Object.fromEntries(Object.keys(MODELS).map((model) => [model, limits])),
          },
          usage: {
            models: Object.fromEntries(Object.keys(MODELS).map((model) => [model, { dailyGenerations: 0 }])),
          },
        });
      },
    },
    { method: 'POST', path: '/v1/text_to_video', handle: createTask(false) },
    { method: 'POST', path: '/v1/image_to_video', handle: createTask(true) },
    {
      method: 'GET',
      path: '/v1/tasks/:id',
      handle(context) {
        const problem = versionProblem(context);
        if (problem) return context.sendError(problem);
        const job = ownJob(context);
        if (!job) return context.sendError(runwayError(404, 'Could not find Task'));
        context.jobs.poll(job.id);
        context.send(200, taskBody(job, context));
      },
    },
    {
      method: 'DELETE',
      path: '/v1/tasks/:id',
      handle(context) {
        const problem = versionProblem(context);
        if (problem) return context.sendError(problem);
        const job = ownJob(context);
        if (!job) return context.sendError(runwayError(404, 'Could not find Task'));
        context.jobs.cancel(job.id);
        context.response.writeHead(204).end();
      },
    },
  ],
  publicRoutes: [
    {
      method: 'GET',
      path: '/outputs/:id.mp4',
      handle(context) {
        // Output URLs are signed (a `_jwt` query parameter) and need no API key, like Runway's CDN.
        const job = context.jobs.get(context.params.id ?? '');
        if (!job || job.cancelled || !context.query.get('_jwt') || context.jobs.state(job) !== 'succeeded')
          return context.send(404, 'Not Found');
        context.send(200, SAMPLE_VIDEO, { 'content-type': 'video/mp4' });
      },
    },
  ],
};
