import { z } from 'zod';
import { EMPTY_USAGE, type VideoStatus } from '../spec.ts';
import { UpstreamError } from '../upstream-error.ts';
import { isRetryableRpcCode, rpcCodeName } from './veo-errors.ts';
import type { VeoApi, VeoOperation } from './veo-operation.ts';

/**
 * A Google long-running operation as a VideoStatus. Running: `{name}` (no `done`, no progress).
 * Finished: `done: true` with either `error: {code, message}` (a google.rpc.Code number) or a response:
 *   Gemini API  response.generateVideoResponse.generatedSamples[].video.uri (a Files API download URL)
 *   Vertex AI   response.videos[] with gcsUri, or the video inline as bytesBase64Encoded
 * Both may report instead that the safety filters removed the videos (raiMediaFilteredCount/Reasons).
 */
const operationError = z.object({ code: z.number().optional(), message: z.string().optional() });
const filtered = {
  raiMediaFilteredCount: z.number().optional(),
  raiMediaFilteredReasons: z.array(z.string()).optional(),
};

const geminiOperationSchema = z.object({
  name: z.string().optional(),
  done: z.boolean().optional(),
  error: operationError.optional(),
  response: z
    .object({
      generateVideoResponse: z
        .object({
          generatedSamples: z
            .array(
              z.object({
                video: z
                  .object({
                    uri: z.string().optional(),
                    encodedVideo: z.string().optional(),
                    encoding: z.string().optional(),
                  })
                  .optional(),
              }),
            )
            .optional(),
          ...filtered,
        })
        .optional(),
    })
    .optional(),
});

const vertexOperationSchema = z.object({
  name: z.string().optional(),
  done: z.boolean().optional(),
  error: operationError.optional(),
  response: z
    .object({
      videos: z
        .array(
          z.object({
            gcsUri: z.string().optional(),
            bytesBase64Encoded: z.string().optional(),
            mimeType: z.string().optional(),
          }),
        )
        .optional(),
      ...filtered,
    })
    .optional(),
});

interface FinishedOperation {
  done: boolean;
  error?: { code?: number | undefined; message?: string | undefined } | undefined;
  outputs: { url: string; mediaType: string }[];
  filteredCount: number;
  filteredReasons: string[];
}

/** A Gemini download URL needs the API key in a header; one must never carry it as `?key=`. */
function withoutKey(uri: string): string {
  try {
    const url = new URL(uri);
    if (!url.searchParams.has('key')) return uri;
    url.searchParams.delete('key');
    return url.toString();
  } catch {
    return uri;
  }
}

function normalize(api: VeoApi, body: unknown): FinishedOperation {
  if (api === 'gemini') {
    const parsed = geminiOperationSchema.safeParse(body);
    if (!parsed.success) throw invalid();
    const response = parsed.data.response?.generateVideoResponse;
    const outputs = (response?.generatedSamples ?? []).flatMap(({ video }) => {
      const mediaType = video?.encoding ?? 'video/mp4';
      if (video?.uri) return [{ url: withoutKey(video.uri), mediaType }];
      if (video?.encodedVideo) return [{ url: `data:${mediaType};base64,${video.encodedVideo}`, mediaType }];
      return [];
    });
    return {
      done: parsed.data.done === true,
      error: parsed.data.error,
      outputs,
      filteredCount: response?.raiMediaFilteredCount ?? 0,
      filteredReasons: response?.raiMediaFilteredReasons ?? [],
    };
  }
  const parsed = vertexOperationSchema.safeParse(body);
  if (!parsed.success) throw invalid();
  const response = parsed.data.response;
  const outputs = (response?.videos ?? []).flatMap((video) => {
    const mediaType = video.mimeType ?? 'video/mp4';
    if (video.gcsUri) return [{ url: video.gcsUri, mediaType }];
    if (video.bytesBase64Encoded)
      return [{ url: `data:${mediaType};base64,${video.bytesBase64Encoded}`, mediaType }];
    return [];
  });
  return {
    done: parsed.data.done === true,
    error: parsed.data.error,
    outputs,
    filteredCount: response?.raiMediaFilteredCount ?? 0,
    filteredReasons: response?.raiMediaFilteredReasons ?? [],
  };
}

function invalid(): UpstreamError {
  return new UpstreamError({
    provider: 'google-veo',
    kind: 'invalid_response',
    message: 'the operation Google returned does not have the expected shape',
  });
}

export function mapVeoOperation(body: unknown, operation: VeoOperation): VideoStatus {
  const finished = normalize(operation.api, body);
  if (!finished.done) return { state: 'pending' };
  if (finished.error) {
    return {
      state: 'failed',
      code: rpcCodeName(finished.error.code),
      message: finished.error.message || 'Veo reported the operation as failed without a message',
      retryable: isRetryableRpcCode(finished.error.code),
    };
  }
  if (finished.outputs.length === 0) {
    // Filtered output is a verdict on the prompt or image: retrying repeats it (and is not billed).
    return finished.filteredCount > 0
      ? {
          state: 'failed',
          code: 'content_filtered',
          message: finished.filteredReasons.join(' ') || 'the safety filters removed the generated video',
          retryable: false,
        }
      : {
          state: 'failed',
          code: 'no_output',
          message: 'Veo finished the operation without a video',
          retryable: false,
        };
  }
  return {
    state: 'succeeded',
    outputs: finished.outputs,
    // Google bills each generated second; filtered samples are not generated, so they do not count.
    usage: { ...EMPTY_USAGE, videoSeconds: operation.durationSeconds * finished.outputs.length },
  };
}
