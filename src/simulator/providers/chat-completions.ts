import type { IncomingMessage } from 'node:http';

/**
 * What the OpenAI and Mistral simulations read alike from a chat completions request: the Bearer key
 * and the messages. Their answers (errors, usage, chunk framing) differ and stay in their own modules.
 */
export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function bearerKey(request: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1]?.trim() || undefined;
}

export interface ChatMessage {
  role: string;
  text: string;
}

/** A message's content as text: a string, or the text parts of a list of content parts. */
function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (isObject(part) && typeof part.text === 'string' ? part.text : ''))
      .filter(Boolean)
      .join('\n');
  }
  return '';
}

export function chatMessages(messages: readonly unknown[]): ChatMessage[] {
  return messages.map((message) => ({
    role: isObject(message) && typeof message.role === 'string' ? message.role : 'user',
    text: isObject(message) ? messageText(message.content) : '',
  }));
}

/** The last user message: what the simulated reply echoes. */
export function lastUserText(messages: readonly ChatMessage[]): string {
  return [...messages].reverse().find((message) => message.role === 'user')?.text ?? '';
}

/** A Retry-After header in whole seconds, when the fault asks for one. */
export function retryAfterHeader(seconds: number | undefined): Record<string, string> {
  return seconds === undefined ? {} : { 'retry-after': String(Math.ceil(seconds)) };
}
