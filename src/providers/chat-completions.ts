import { parseJsonEvent, sseEvents } from './http.ts';
import { isUpstreamError, UpstreamError } from './upstream-error.ts';

/**
 * The stream of OpenAI's chat completions wire format, which Mistral speaks too: `data: <chunk>` events
 * ending in `data: [DONE]`. What a chunk means (content shapes, usage, error bodies) stays with each
 * provider; this is only the framing they share.
 */
export interface ChatStreamOptions {
  provider: string;
  signal?: AbortSignal | undefined;
  /** The provider's error for an event that is one (an `event: error`, or an `error` member), else undefined. */
  errorOf(data: unknown, event: string | undefined): UpstreamError | undefined;
}

/**
 * Yields each chunk's JSON. A body that breaks off mid-read is unreachable (the socket error's text is
 * not passed on); a stream that ends without [DONE] is a server error, since its usage, on the last
 * chunk, was never reported.
 */
export async function* chatCompletionChunks(
  response: Response,
  { provider, signal, errorOf }: ChatStreamOptions,
): AsyncGenerator<unknown> {
  let done = false;
  try {
    for await (const event of sseEvents(response, signal)) {
      if (event.data === '[DONE]') {
        done = true;
        break;
      }
      const data = parseJsonEvent(provider, event.data);
      const error = errorOf(data, event.event);
      if (error) throw error;
      yield data;
    }
  } catch (error) {
    if (isUpstreamError(error) || signal?.aborted) throw error;
    throw new UpstreamError({
      provider,
      kind: 'unreachable',
      message: 'the connection closed before the stream finished',
    });
  }
  if (!done) {
    throw new UpstreamError({
      provider,
      kind: 'server_error',
      message: 'the stream ended before [DONE]; its usage was not reported',
    });
  }
}
