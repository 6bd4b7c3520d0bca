import type { SecretValue } from '../crypto/index.ts';
import type { CredentialFields, CredentialSpec } from './credentials.ts';

/**
 * The provider contract. A provider declares what it is (identity, credential schema, capabilities with
 * their limits, default rate limits, status, models with prices) and builds adapters that speak its
 * HTTP API. This file imports no adapter; adapters import it.
 */

export type ProviderStatus = { state: 'available' } | { state: 'retired'; date: string; reason: string };

export const AVAILABLE: ProviderStatus = { state: 'available' };

export interface CredentialFieldInfo {
  name: string;
  label: string;
  secret: boolean;
  optional: boolean;
  description?: string;
}

export interface TextCapability {
  models: readonly string[];
  streaming: boolean;
}

export interface ImageCapability {
  models: readonly string[];
  aspectRatios: readonly string[];
  outputFormats: readonly string[];
  status: ProviderStatus;
}

export interface VideoModelInfo {
  id: string;
  durations: readonly number[];
  resolutions: readonly string[];
  aspectRatios: readonly string[];
  imageInput: boolean;
}

export interface VideoCapability {
  models: readonly VideoModelInfo[];
  status: ProviderStatus;
}

export interface Capabilities {
  text?: TextCapability;
  image?: ImageCapability;
  video?: VideoCapability;
}

export interface RateLimits {
  perMinute?: number;
  perHour?: number;
}

/** Token prices are USD per million tokens; video USD per second by resolution; images USD each. */
export interface ModelPrice {
  inputPerMillion?: number;
  outputPerMillion?: number;
  cacheReadPerMillion?: number;
  cacheWritePerMillion?: number;
  videoPerSecond?: Readonly<Record<string, number>>;
  perImage?: number;
}

export interface ModelInfo {
  id: string;
  kind: 'text' | 'image' | 'video';
  price?: ModelPrice;
}

export type ValidationResult =
  | { status: 'valid' }
  | { status: 'invalid'; reason: string }
  | { status: 'unreachable'; reason?: string }
  | { status: 'rate_limited'; retryAfterMs?: number };

/** Token and media counts of one call. Cached and reasoning tokens are subsets, never added twice. */
export interface Usage {
  /** Input tokens billed at the input price (excluding cache reads and writes). */
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** Part of outputTokens; billed as output. */
  reasoningTokens: number;
  videoSeconds: number;
  images: number;
}

export const EMPTY_USAGE: Usage = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
  videoSeconds: 0,
  images: 0,
});

export interface TextMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface TextRequest {
  model: string;
  messages: readonly TextMessage[];
  maxOutputTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
}

export interface TextResult {
  text: string;
  model: string;
  finishReason: string;
  usage: Usage;
  warnings: string[];
}

export type TextStreamEvent =
  | { type: 'text-delta'; text: string }
  /** warnings: options the model could not honour (a stream has no result to carry them). */
  | { type: 'finish'; finishReason: string; usage: Usage; warnings?: string[] };

export interface ImageRequest {
  prompt: string;
  model?: string;
  negativePrompt?: string;
  aspectRatio?: string;
  seed?: number;
  outputFormat?: string;
  signal?: AbortSignal;
}

export interface ImageResult {
  images: { base64: string; mediaType: string }[];
  model: string;
  usage: Usage;
  warnings: string[];
}

export interface VideoRequest {
  prompt: string;
  model?: string;
  negativePrompt?: string;
  durationSeconds?: number;
  aspectRatio?: string;
  resolution?: string;
  seed?: number;
  /** An input image as an https URL or a data: URL. */
  image?: string;
  signal?: AbortSignal;
}

/** What start() returns: an opaque operation the video service stores and hands back to status(). */
export interface VideoStart {
  operation: string;
  model: string;
  warnings: string[];
}

export type VideoStatus =
  | { state: 'pending'; progress?: number }
  | { state: 'failed'; code: string; message: string; retryable: boolean }
  | { state: 'succeeded'; outputs: { url: string; mediaType?: string }[]; usage: Usage };

export interface TextModel {
  generate(request: TextRequest): Promise<TextResult>;
  stream(request: TextRequest): AsyncIterable<TextStreamEvent>;
}

export interface ImageModel {
  generate(request: ImageRequest): Promise<ImageResult>;
}

/** Long jobs are two calls; adapters never poll or sleep. */
export interface VideoModel {
  start(request: VideoRequest): Promise<VideoStart>;
  status(operation: string, options?: { signal?: AbortSignal }): Promise<VideoStatus>;
  cancel?(operation: string): Promise<void>;
}

export interface ProviderAdapter {
  validate(options?: { signal?: AbortSignal }): Promise<ValidationResult>;
  text?: TextModel;
  image?: ImageModel;
  video?: VideoModel;
}

export type Credentials = Readonly<Record<string, SecretValue>>;

export interface AdapterOptions {
  baseURL: string;
  fetch: typeof fetch;
  /** Read when a request is made, never when the adapter is built. */
  credentials: () => Credentials | Promise<Credentials>;
  /** For provider-specific overrides beyond the base URL (e.g. KEYHAVEN_GOOGLE_VERTEX_BASE_URL). */
  env?: Readonly<Record<string, string | undefined>>;
  now?: () => number;
}

export interface ProviderDefinition {
  id: string;
  displayName: string;
  description: string;
  /** A small inline SVG of our own (a monogram), never a copied logo. */
  icon: string;
  credential: CredentialSpec;
  credentialFields: readonly CredentialFieldInfo[];
  capabilities: Capabilities;
  defaultRateLimits: RateLimits;
  status: ProviderStatus;
  models: readonly ModelInfo[];
  /** The provider's public base URL, overridable with KEYHAVEN_<PROVIDER>_BASE_URL. */
  defaultBaseURL: string;
  createAdapter(options: AdapterOptions): ProviderAdapter;
}

export type { CredentialFields, CredentialSpec };
