import { z } from 'zod';

/**
 * What a caller sends to create a video job: one schema for the HTTP body, the library call and the
 * OpenAPI document. Exactly one of `provider`, `providers` (ordered failover) or `strategy` chooses
 * where the job runs. Limits here are Keyhaven's own (sizes); the provider's limits are checked by plan.ts.
 */
export const MAX_BATCH = 50;
/** An inline input image: at most 7.5 MB of image, i.e. 10 MB of base64 text. */
export const MAX_INLINE_IMAGE_CHARS = 10 * 1024 * 1024;
const MAX_METADATA_BYTES = 8 * 1024;

const providerId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,63}$/, 'provider must be a provider id such as runway');

const imageSchema = z
  .string()
  .min(1)
  .max(MAX_INLINE_IMAGE_CHARS + 64, 'image must be at most 10 MB of base64 data')
  .describe(
    'An input image: an http(s) URL the provider fetches (must resolve to a public address), or a data:image/...;base64 URL (at most 10 MB of base64). Providers take one or the other: see the provider catalog.',
  );

export const videoRequestSchema = z
  .strictObject({
    provider: providerId.optional().describe('run the job on this provider'),
    providers: z
      .array(providerId)
      .min(1)
      .max(8)
      .optional()
      .describe('ordered failover: the next provider is tried when one cannot start or finish the job'),
    strategy: z
      .literal('cheapest')
      .optional()
      .describe(
        'the cheapest of your connected providers able to do the request (then the others, by price)',
      ),
    prompt: z.string().trim().min(1, 'prompt must not be empty').max(4000),
    negativePrompt: z.string().trim().min(1).max(4000).optional(),
    durationSeconds: z.number().int().min(1).max(600).optional(),
    aspectRatio: z.string().min(1).max(32).optional(),
    resolution: z.string().min(1).max(32).optional(),
    seed: z.number().int().min(0).max(4_294_967_295).optional(),
    image: imageSchema.optional(),
    model: z.string().min(1).max(128).optional(),
    webhookUrl: z
      .string()
      .max(2048)
      .optional()
      .describe('also deliver this job’s video.succeeded / video.failed events here (public http(s) URL)'),
    metadata: z
      .record(z.string().max(128), z.unknown())
      .optional()
      .refine(
        (value) => value === undefined || Buffer.byteLength(JSON.stringify(value)) <= MAX_METADATA_BYTES,
        `metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON`,
      )
      .describe('your own data, returned with the job and in its events'),
  })
  .refine(
    (request) =>
      [request.provider, request.providers, request.strategy].filter((choice) => choice !== undefined)
        .length === 1,
    { message: 'give exactly one of provider, providers or strategy', path: ['provider'] },
  );

export type VideoRequestInput = z.infer<typeof videoRequestSchema>;

export const videoBatchSchema = z.strictObject({
  requests: z.array(videoRequestSchema).min(1).max(MAX_BATCH, `a batch holds at most ${MAX_BATCH} requests`),
});

export type VideoBatchInput = z.infer<typeof videoBatchSchema>;

const DATA_IMAGE = /^data:image\/(png|jpeg|webp|gif);base64,[A-Za-z0-9+/]+={0,2}$/;

/** True for an inline image Keyhaven accepts; other data: URLs are refused. */
export function isInlineImage(image: string): boolean {
  return image.length <= MAX_INLINE_IMAGE_CHARS + 64 && DATA_IMAGE.test(image);
}
