import { z } from 'zod';
import type {
  StoredPlanEntry,
  StoredVideoOutput,
  VideoAttemptRow,
  VideoJobRow,
} from '../store/video-tables.ts';

/**
 * The job as callers see it (HTTP responses, event payloads, library results). The schema lists every
 * field that may leave Keyhaven: operations, credential ids and inline media never do.
 *
 * Outputs: Runway and Luma hand out signed, expiring URLs that work as they are (`access: "public"`).
 * Veo on the Gemini API hands out a Files API URL that only opens with the user's API key in
 * `x-goog-api-key`, which the application does not have: Keyhaven stores the URL without any key and
 * offers its own download route instead, which fetches the file with the user's credential
 * (`access: "keyhaven"`, bearer token). Vertex may return the video inline: the bytes stay in Keyhaven
 * behind the same route. Vertex `gs://` URIs need the user's Google Cloud access
 * (`access: "provider-credential"`).
 */
const timestamp = z.string().describe('ISO 8601 date and time');

/** The vault reference a job holds on each credential version it may use. */
export const holderOf = (jobId: string) => `video:${jobId}`;

export const videoOutputSchema = z.object({
  url: z.string(),
  mediaType: z.string().nullable(),
  access: z
    .enum(['public', 'provider-credential', 'keyhaven'])
    .describe(
      'public: a plain (usually signed, expiring) URL; provider-credential: the provider wants the user’s own credential (Gemini: x-goog-api-key header); keyhaven: download from this server with a bearer token',
    ),
});

export const videoAttemptSchema = z.object({
  provider: z.string(),
  model: z.string(),
  credentialVersion: z.number().int(),
  status: z.enum(['submitting', 'running', 'succeeded', 'failed', 'canceled']),
  errorCode: z.string().nullable(),
  errorMessage: z.string().nullable(),
  startedAt: timestamp,
  endedAt: timestamp.nullable(),
});

export const videoJobSchema = z.object({
  id: z.string(),
  userId: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']),
  provider: z.string().describe('the provider of the attempt in progress (or the last one)'),
  model: z.string(),
  providers: z.array(z.string()).describe('the planned attempts, in order'),
  prompt: z.string(),
  negativePrompt: z.string().nullable(),
  durationSeconds: z.number(),
  aspectRatio: z.string(),
  resolution: z.string(),
  seed: z.number().nullable(),
  image: z
    .string()
    .nullable()
    .describe('the input image URL; an inline image is summarised as data:<type>;base64,… (N bytes)'),
  webhookUrl: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  progress: z.number().nullable(),
  outputs: z.array(videoOutputSchema),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  attempts: z.array(videoAttemptSchema),
  estimatedCost: z
    .number()
    .nullable()
    .describe('USD, estimated from the price table for the planned provider; null when unpriced'),
  createdAt: timestamp,
  updatedAt: timestamp,
  completedAt: timestamp.nullable(),
});

export type VideoJob = z.infer<typeof videoJobSchema>;
export type VideoOutput = z.infer<typeof videoOutputSchema>;

const iso = (value: Date | string) => new Date(value).toISOString();

/** The plan entry of the attempt in progress (plans are never empty). */
export function currentEntry(row: Pick<VideoJobRow, 'plan' | 'attempt_index'>): StoredPlanEntry {
  const entry = row.plan[Math.min(row.attempt_index, row.plan.length - 1)];
  if (!entry) throw new Error('a video job has an empty plan');
  return entry;
}

/** A URL never carries a key, whatever an adapter returned. */
export function withoutKeyParameter(url: string): string {
  if (!/^https?:/i.test(url)) return url;
  try {
    const parsed = new URL(url);
    for (const name of [...parsed.searchParams.keys()]) {
      if (/^(key|api_key|apikey|access_token)$/i.test(name)) parsed.searchParams.delete(name);
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

export function outputPath(userId: string, jobId: string, index: number): string {
  return `/v1/users/${encodeURIComponent(userId)}/videos/${jobId}/outputs/${index}`;
}

export function outputView(
  row: Pick<VideoJobRow, 'user_id' | 'id'>,
  provider: string,
  output: StoredVideoOutput,
  index: number,
): VideoOutput {
  const mediaType = output.mediaType ?? null;
  if (output.url.startsWith('data:') || (provider === 'google-veo' && /^https?:/i.test(output.url))) {
    return { url: outputPath(row.user_id, row.id, index), mediaType, access: 'keyhaven' };
  }
  return {
    url: withoutKeyParameter(output.url),
    mediaType,
    access: provider === 'google-veo' ? 'provider-credential' : 'public',
  };
}

function imageView(image: string | undefined): string | null {
  if (image === undefined) return null;
  const inline = /^data:([^;,]+)[;,]/.exec(image);
  if (!inline) return image;
  const comma = image.indexOf(',');
  const bytes = Math.floor(((image.length - comma - 1) * 3) / 4);
  return `data:${inline[1]};base64,… (${bytes} bytes)`;
}

export function jobView(row: VideoJobRow, attempts: readonly VideoAttemptRow[]): VideoJob {
  const entry = currentEntry(row);
  const request = row.request;
  const provider = attempts.at(-1)?.provider ?? entry.provider;
  return {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    provider,
    model: attempts.at(-1)?.model ?? entry.model,
    providers: row.plan.map((planned) => planned.provider),
    prompt: request.prompt,
    negativePrompt: request.negativePrompt ?? null,
    durationSeconds: entry.durationSeconds,
    aspectRatio: entry.aspectRatio,
    resolution: entry.resolution,
    seed: request.seed ?? null,
    image: imageView(request.image),
    webhookUrl: row.webhook_url,
    metadata: row.metadata,
    progress: row.progress,
    outputs: (row.outputs ?? []).map((output, index) => outputView(row, provider, output, index)),
    error:
      row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? row.error_code },
    attempts: [...attempts]
      .sort((a, b) => a.attempt - b.attempt)
      .map((attempt) => ({
        provider: attempt.provider,
        model: attempt.model,
        credentialVersion: attempt.credential_version,
        status: attempt.status,
        errorCode: attempt.error_code,
        errorMessage: attempt.error_message,
        startedAt: iso(attempt.started_at),
        endedAt: attempt.ended_at === null ? null : iso(attempt.ended_at),
      })),
    estimatedCost: entry.estimatedCost === null ? null : entry.estimatedCost / 1_000_000,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    completedAt: row.completed_at === null ? null : iso(row.completed_at),
  };
}
