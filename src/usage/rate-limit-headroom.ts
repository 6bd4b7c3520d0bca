/**
 * Upstream rate-limit headroom, read from the headers a provider sends with each response:
 * - openai: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, reset as a duration (`6m0s`, `12ms`);
 * - anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
 *   reset as RFC 3339;
 * - mistral: `x-ratelimit-{limit,remaining}-{req,tokens}-minute` (and `x-ratelimitbysize-*-minute` for
 *   tokens), per minute, no reset header;
 * - any other: the IETF `ratelimit-{limit,remaining,reset}` fields (reset in seconds) when present.
 * Providers that send none (Gemini, the video providers) have no headroom to show.
 */
export interface LimitHeadroom {
  limit: number | null;
  remaining: number;
  /** ISO 8601, or null when the provider does not say. */
  resetAt: string | null;
}

export interface RateLimitHeadroom {
  requests?: LimitHeadroom;
  tokens?: LimitHeadroom;
  inputTokens?: LimitHeadroom;
  outputTokens?: LimitHeadroom;
}

export type HeaderSource =
  | Headers
  | Readonly<Record<string, string | readonly string[] | number | undefined>>;

function reader(headers: HeaderSource): (name: string) => string | undefined {
  if (typeof (headers as Headers).get === 'function') {
    return (name) => (headers as Headers).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | number | undefined>>;
  const text = (value: string | readonly string[] | number) =>
    Array.isArray(value) ? String(value[0]) : String(value);
  // Node and undici give header names in lower case: looked up directly; only a name that is missing
  // is looked for in any case (a record written by hand may spell names as it likes).
  return (name) => {
    const value = Object.hasOwn(record, name) ? record[name] : undefined;
    if (value !== undefined) return text(value);
    for (const key in record) {
      const entry = record[key];
      if (key.length === name.length && entry !== undefined && key.toLowerCase() === name) return text(entry);
    }
    return undefined;
  };
}

function count(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d{1,15}\s*$/.test(value)) return undefined;
  return Number(value);
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** OpenAI's reset durations: `1s`, `6m0s`, `12ms`, `1h2m3.5s`. */
export function parseDurationMs(value: string): number | undefined {
  const text = value.trim();
  if (!/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) {
    total += Number(amount) * (UNIT_MS[unit ?? 's'] ?? 0);
  }
  return total;
}

function limitFrom(
  limit: string | undefined,
  remaining: string | undefined,
  resetAt: string | null,
): LimitHeadroom | undefined {
  const left = count(remaining);
  if (left === undefined) return undefined;
  return { limit: count(limit) ?? null, remaining: left, resetAt };
}

function afterMs(now: Date, milliseconds: number | undefined): string | null {
  return milliseconds === undefined ? null : new Date(now.getTime() + milliseconds).toISOString();
}

function rfc3339(value: string | undefined): string | null {
  if (value === undefined) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

function compact(headroom: RateLimitHeadroom): RateLimitHeadroom | undefined {
  const entries = Object.entries(headroom).filter(([, value]) => value !== undefined);
  return entries.length === 0 ? undefined : (Object.fromEntries(entries) as RateLimitHeadroom);
}

// The headers without which a provider's headroom cannot be read (every limit needs its remaining count).
const REMAINING: Readonly<Record<string, readonly string[]>> = {
  openai: ['x-ratelimit-remaining-requests', 'x-ratelimit-remaining-tokens'],
  anthropic: ['requests', 'tokens', 'input-tokens', 'output-tokens'].map(
    (name) => `anthropic-ratelimit-${name}-remaining`,
  ),
  mistral: [
    'x-ratelimit-remaining-req-minute',
    'x-ratelimit-remaining-tokens-minute',
    'x-ratelimitbysize-remaining-minute',
  ],
};
const IETF_REMAINING = ['ratelimit-remaining'];

/**
 * Whether a response says anything about headroom: a look-up or two, cheap enough for every response, so
 * that the full reading can wait until the newest observation is written.
 */
export function carriesRateLimitHeadroom(provider: string, headers: HeaderSource): boolean {
  const get = reader(headers);
  return (REMAINING[provider] ?? IETF_REMAINING).some((name) => get(name) !== undefined);
}

export function readRateLimitHeadroom(
  provider: string,
  headers: HeaderSource,
  now: Date,
): RateLimitHeadroom | undefined {
  const get = reader(headers);
  if (provider === 'openai') {
    const reset = (name: string) => {
      const value = get(`x-ratelimit-reset-${name}`);
      return afterMs(now, value === undefined ? undefined : parseDurationMs(value));
    };
    return compact({
      requests: limitFrom(
        get('x-ratelimit-limit-requests'),
        get('x-ratelimit-remaining-requests'),
        reset('requests'),
      ),
      tokens: limitFrom(
        get('x-ratelimit-limit-tokens'),
        get('x-ratelimit-remaining-tokens'),
        reset('tokens'),
      ),
    });
  }
  if (provider === 'anthropic') {
    const limit = (name: string) =>
      limitFrom(
        get(`anthropic-ratelimit-${name}-limit`),
        get(`anthropic-ratelimit-${name}-remaining`),
        rfc3339(get(`anthropic-ratelimit-${name}-reset`)),
      );
    return compact({
      requests: limit('requests'),
      tokens: limit('tokens'),
      inputTokens: limit('input-tokens'),
      outputTokens: limit('output-tokens'),
    });
  }
  if (provider === 'mistral') {
    return compact({
      requests: limitFrom(get('x-ratelimit-limit-req-minute'), get('x-ratelimit-remaining-req-minute'), null),
      tokens:
        limitFrom(get('x-ratelimit-limit-tokens-minute'), get('x-ratelimit-remaining-tokens-minute'), null) ??
        limitFrom(get('x-ratelimitbysize-limit-minute'), get('x-ratelimitbysize-remaining-minute'), null),
    });
  }
  const resetSeconds = count(get('ratelimit-reset'));
  return compact({
    requests: limitFrom(
      get('ratelimit-limit'),
      get('ratelimit-remaining'),
      afterMs(now, resetSeconds === undefined ? undefined : resetSeconds * 1000),
    ),
  });
}
