import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ErrorOptions, ProviderSimulation, Route, RouteContext, SimulatedError } from '../types.ts';

/**
 * Stability AI as the simulator plays it: the v1 account routes (`/v1/user/balance`, `/v1/user/account`),
 * the three v2beta Stable Image generation routes (multipart/form-data in; JSON with a base64 image, or
 * the raw image when `Accept: image/*`), and the retired image-to-video API, which answers 404 as
 * shut-down Stability endpoints do. A prompt containing "simulate:filter" comes back with
 * finish_reason CONTENT_FILTERED; "simulate:moderation" is refused 403 content_moderation.
 * Errors use Stability's envelopes: v1 `{id, name, message}`, v2beta `{id, name, errors: [...]}`.
 */
const ASPECT_RATIOS = ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'];
const SD3_MODELS = ['sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium', 'sd3.5-flash'];
const MAX_SEED = 4_294_967_294;

/**
 * 1x1 images, one per output format. The PNG is a complete, decodable file (checked by the tests);
 * the JPEG is a baseline 1x1 grey image built by hand (one DC-only block); the WebP is the lossy
 * 1x1 image browsers use to detect WebP support.
 */
const SAMPLE_IMAGES: Readonly<Record<string, Buffer>> = {
  png: Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
    'base64',
  ),
  jpeg: Buffer.from(
    [
      'ffd8',
      `ffdb004300${'01'.repeat(64)}`,
      'ffc0000b080001000101011100',
      // Two Huffman tables (DC class 0, AC class 1), each one 1-bit code for symbol 0.
      `ffc4001400 01${'00'.repeat(15)} 00`,
      `ffc4001410 01${'00'.repeat(15)} 00`,
      'ffda0008010100003f00',
      '3f',
      'ffd9',
    ]
      .join('')
      .replaceAll(' ', ''),
    'hex',
  ),
  webp: Buffer.from('UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA', 'base64'),
};

const errorId = () => randomBytes(16).toString('hex');

/** The v2beta envelope, used by the generation routes and for injected faults. */
const v2Error = (
  status: number,
  name: string,
  errors: string[],
  headers?: Record<string, string>,
): SimulatedError => ({
  status,
  body: { id: errorId(), name, errors },
  ...(headers ? { headers } : {}),
});

/** The v1 envelope, documented in Stability's OpenAPI for the account routes. */
const v1Error = (status: number, name: string, message: string): SimulatedError => ({
  status,
  body: { id: randomUUID(), name, message },
});

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

async function readForm(context: RouteContext): Promise<FormData | undefined> {
  const contentType = context.request.headers['content-type'] ?? '';
  if (!contentType.toLowerCase().startsWith('multipart/form-data')) return undefined;
  try {
    return await new Request('http://simulator.invalid/', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: new Uint8Array(context.body),
    }).formData();
  } catch {
    return undefined;
  }
}

function text(form: FormData, name: string): string | undefined {
  const value = form.get(name);
  return typeof value === 'string' ? value : undefined;
}

function generate(endpoint: 'core' | 'ultra' | 'sd3'): Route {
  return {
    method: 'POST',
    path: `/v2beta/stable-image/generate/${endpoint}`,
    async handle(context) {
      const form = await readForm(context);
      if (!form)
        return context.sendError(
          v2Error(400, 'bad_request', ['content-type: must be multipart/form-data with a valid body']),
        );
      const problems: string[] = [];
      const prompt = text(form, 'prompt') ?? '';
      if (!prompt) problems.push('prompt: is required');
      else if (prompt.length > 10_000) problems.push('prompt: must be at most 10000 characters');
      const aspectRatio = text(form, 'aspect_ratio') ?? '1:1';
      if (!ASPECT_RATIOS.includes(aspectRatio))
        problems.push(`aspect_ratio: must be one of ${ASPECT_RATIOS.join(', ')}`);
      const formats = endpoint === 'sd3' ? ['png', 'jpeg'] : ['png', 'jpeg', 'webp'];
      const outputFormat = text(form, 'output_format') ?? 'png';
      if (!formats.includes(outputFormat))
        problems.push(`output_format: must be one of ${formats.join(', ')}`);
      const model = text(form, 'model') ?? 'sd3.5-large';
      if (endpoint === 'sd3' && !SD3_MODELS.includes(model))
        problems.push(`model: must be one of ${SD3_MODELS.join(', ')}`);
      const seedText = text(form, 'seed');
      const seed = seedText === undefined ? 0 : Number(seedText);
      if (!(Number.isInteger(seed) && seed >= 0 && seed <= MAX_SEED))
        problems.push(`seed: must be an integer from 0 to ${MAX_SEED}`);
      if (problems.length > 0) return context.sendError(v2Error(400, 'bad_request', problems));

      if (prompt.includes('simulate:moderation')) {
        return context.sendError(
          v2Error(403, 'content_moderation', [
            'Your request was flagged by our content moderation system, as a result your request was denied and you were not charged.',
          ]),
        );
      }
      const finishReason = prompt.includes('simulate:filter') ? 'CONTENT_FILTERED' : 'SUCCESS';
      const usedSeed = seed === 0 ? randomInt(1, MAX_SEED) : seed;
      const image = SAMPLE_IMAGES[outputFormat] ?? SAMPLE_IMAGES.png ?? Buffer.alloc(0);
      const mediaType = `image/${outputFormat}`;
      const accept = String(context.request.headers.accept ?? 'image/*');
      if (accept.includes('application/json')) {
        return context.send(
          200,
          { image: image.toString('base64'), finish_reason: finishReason, seed: usedSeed },
          { 'content-type': `application/json; type=${mediaType}` },
        );
      }
      context.send(200, image, {
        'content-type': mediaType,
        'finish-reason': finishReason,
        seed: String(usedSeed),
      });
    },
  };
}

const RETIRED_VIDEO = ['The image-to-video API was discontinued on 2025-07-24 and is no longer available.'];

export const stabilitySimulation: ProviderSimulation = {
  id: 'stability',
  prefix: '/stability',
  sdkBasePath: '',
  defaultKeys: ['sk-test-stability-simulator'],
  extractKey: (request) => bearer(request),
  // One envelope for every route: the core does not say which route was asked for. The v1 envelope is
  // the one Stability documents for 401, and validation (GET /v1/user/balance) is where keys are judged.
  unauthorized: (key) =>
    v1Error(
      401,
      'unauthorized',
      key === undefined ? 'missing authorization header' : 'Incorrect API key provided',
    ),
  error(status: number, { retryAfterSeconds, quotaExhausted, message }: ErrorOptions): SimulatedError {
    if (status === 402 || (status === 429 && quotaExhausted)) {
      return v2Error(402, 'payment_required', [
        'You lack sufficient credits to make this request. Please purchase more credits at https://platform.stability.ai/account/credits and try again.',
      ]);
    }
    if (status === 429) {
      // Stability states the time-out in the message rather than in a header.
      const seconds = retryAfterSeconds ?? 60;
      return v2Error(429, 'rate_limit_exceeded', [
        `You have exceeded the rate limit of 150 requests within a 10 second period, and have been timed out for ${seconds} seconds.`,
      ]);
    }
    if (status === 401) return stabilitySimulation.unauthorized(undefined);
    const byStatus: Record<number, [string, string]> = {
      400: ['bad_request', 'the request is invalid'],
      403: ['permission_denied', 'You do not have permission to access this resource.'],
      404: ['not_found', 'The requested resource was not found.'],
      500: ['internal_error', 'An unexpected server error occurred, please try again.'],
      502: ['bad_gateway', 'The service is temporarily unavailable, please try again.'],
      503: ['service_unavailable', 'The service is temporarily unavailable, please try again.'],
      504: ['gateway_timeout', 'The request took too long, please try again.'],
    };
    const [name, text] = byStatus[status] ?? ['server_error', 'An unexpected error occurred.'];
    return v2Error(status, name, [message ?? text]);
  },
  routes: [
    {
      method: 'GET',
      path: '/v1/user/balance',
      handle: (context) => context.send(200, { credits: 42.5 }),
    },
    {
      method: 'GET',
      path: '/v1/user/account',
      handle: (context) =>
        context.send(200, {
          id: 'user-simulated',
          email: 'simulator@example.com',
          profile_picture: 'https://example.com/avatar.png',
          organizations: [
            { id: 'org-simulated', name: 'Simulated organization', role: 'MEMBER', is_default: true },
          ],
        }),
    },
    generate('core'),
    generate('ultra'),
    generate('sd3'),
    {
      method: 'POST',
      path: '/v2beta/image-to-video',
      handle: (context) => context.sendError(v2Error(404, 'not_found', RETIRED_VIDEO)),
    },
    {
      method: 'GET',
      path: '/v2beta/image-to-video/result/:id',
      handle: (context) => context.sendError(v2Error(404, 'not_found', RETIRED_VIDEO)),
    },
  ],
};
