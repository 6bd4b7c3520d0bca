/**
 * What every call that reaches a provider reports: who, which provider and credential, what it used.
 * The gateway and the video service hand usage to a UsageMeter; the usage folder stores it.
 * Token counts follow providers/spec.ts `Usage`: each token is counted once (inputTokens excludes cache
 * reads and writes, reasoningTokens is a part of outputTokens).
 */
export interface UsageRecord {
  userId: string;
  provider: string;
  model: string | null;
  credentialVersion: number | null;
  requestId: string;
  route: 'passthrough' | 'text' | 'image' | 'video';
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  videoSeconds: number;
  images: number;
  /** The video resolution ('720p', '1080p', ...) when the model's price depends on it. */
  resolution?: string;
  /** The upstream HTTP status, or 0 when no response came back. */
  status: number;
  latencyMs: number;
  /** True when the client went away before the response ended: the usage is what was delivered. */
  aborted?: boolean;
  occurredAt: Date;
}

/** An upstream response's headers, for the rate-limit headroom of the credential that was used. */
export interface RateLimitObservation {
  userId: string;
  provider: string;
  credentialVersion: number | null;
  headers: Headers | Readonly<Record<string, string | readonly string[] | number | undefined>>;
  observedAt?: Date;
}

export interface UsageMeter {
  record(usage: UsageRecord): void;
  /** Keeps the last headroom the provider reported (openai, anthropic, mistral headers); no I/O here. */
  observeRateLimits?(observation: RateLimitObservation): void;
  /** Writes what is pending; called on shutdown. */
  flush(): Promise<void>;
  /** Flushes, then stops background work. The server calls it (or flush) when it closes. */
  close?(): Promise<void>;
}
