import type { IncomingHttpHeaders } from 'node:http';

/**
 * Which headers cross the gateway. Hop-by-hop headers (RFC 9110 7.6.1, plus the ones a connection names)
 * never do. Toward the provider, every header that can carry the client's own credentials (its Keyhaven
 * token, cookies) and every x-keyhaven-* header is removed before the user's key is injected. Toward the
 * client, cookies the provider sets and any x-keyhaven-* header it sends are removed, so what Keyhaven
 * says about a response always comes from Keyhaven.
 */
export type HeaderValue = string | string[];

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Headers in which a client authenticates: its token goes no further than the gateway. */
const CLIENT_CREDENTIALS = new Set(['authorization', 'x-api-key', 'x-goog-api-key', 'api-key', 'cookie']);

/** The framing of the request is recomputed by the HTTP client from the body it sends. */
const REQUEST_FRAMING = new Set(['host', 'content-length', 'expect']);

/** The few Connection values seen in practice ("keep-alive", "close"), parsed once each. */
const parsedConnections = new Map<string, ReadonlySet<string>>();

function connectionTokens(headers: Readonly<Record<string, unknown>>): ReadonlySet<string> {
  const value = headers.connection;
  const text = Array.isArray(value) ? value.join(',') : typeof value === 'string' ? value : '';
  let tokens = parsedConnections.get(text);
  if (!tokens) {
    tokens = new Set(
      text
        .split(',')
        .map((token) => token.trim().toLowerCase())
        .filter(Boolean),
    );
    if (parsedConnections.size >= 32) parsedConnections.clear();
    parsedConnections.set(text, tokens);
  }
  return tokens;
}

export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  injected: Readonly<Record<string, string>>,
): Record<string, HeaderValue> {
  const named = connectionTokens(incoming);
  const headers: Record<string, HeaderValue> = {};
  // for...in rather than Object.entries: no array of pairs made per call (plain objects, no inherited keys).
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower) || REQUEST_FRAMING.has(lower)) continue;
    if (CLIENT_CREDENTIALS.has(lower) || lower.startsWith('x-keyhaven-')) continue;
    headers[lower] = value;
  }
  // Identity, so usage can be read from the body as it passes; the client may still compress
  // toward us, and the bytes between gateway and provider are not the bottleneck.
  headers['accept-encoding'] = 'identity';
  for (const name in injected) headers[name.toLowerCase()] = injected[name] as string;
  return headers;
}

export function clientResponseHeaders(
  upstream: Readonly<Record<string, HeaderValue | undefined>>,
  { dropContentLength }: { dropContentLength: boolean },
): Record<string, HeaderValue> {
  const named = connectionTokens(upstream);
  const headers: Record<string, HeaderValue> = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    if (lower === 'set-cookie' || lower.startsWith('x-keyhaven-')) continue;
    if (lower === 'content-length' && dropContentLength) continue;
    headers[lower] = value;
  }
  return headers;
}

/** The query without a `key` parameter (Gemini's old way to pass an API key); the rest is untouched. */
export function withoutKeyParameter(query: string): string {
  if (query === '') return '';
  const kept = query
    .slice(1)
    .split('&')
    .filter((pair) => {
      const name = pair.split('=')[0] ?? '';
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replaceAll('+', ' '));
      } catch {
        // A malformed escape is not `key`; keep the pair as the client wrote it.
      }
      return decoded !== 'key';
    });
  return kept.length > 0 ? `?${kept.join('&')}` : '';
}
