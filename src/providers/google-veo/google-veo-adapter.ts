import { z } from 'zod';
import { validationResult } from '../adapter-support.ts';
import { type HttpContext, requestJson } from '../http.ts';
import type {
  AdapterOptions,
  ProviderAdapter,
  ValidationResult,
  VideoRequest,
  VideoStart,
  VideoStatus,
} from '../spec.ts';
import { isUpstreamError, UpstreamError } from '../upstream-error.ts';
import { buildVeoPrediction } from './build-veo-prediction.ts';
import { mapVeoOperation } from './map-veo-operation.ts';
import { parseServiceAccount, type ServiceAccount, serviceAccountSecrets } from './service-account.ts';
import { mapVeoError } from './veo-errors.ts';
import {
  decodeVeoOperation,
  encodeVeoOperation,
  isOperationName,
  type VeoApi,
  vertexResourceOf,
} from './veo-operation.ts';
import { checkTokenURL, forgetAccessToken, vertexAccessToken } from './vertex-token.ts';

/**
 * The Veo adapter. The credential picks the API: an `apiKey` speaks to the Gemini API
 * (`x-goog-api-key`, never `?key=`), a `serviceAccount` key file to Vertex AI in its project and
 * `location` (an access token from the JWT bearer grant, cached). Both start a `predictLongRunning`
 * operation; status() reads it once (GET on the Gemini API, `fetchPredictOperation` on Vertex).
 */
const PROVIDER = 'google-veo';
export const VERTEX_BASE_URL_VARIABLE = 'KEYHAVEN_GOOGLE_VERTEX_BASE_URL';
const DEFAULT_LOCATION = 'us-central1';
/** A region (`us-central1`) or `global`: it becomes part of a host name, so nothing else passes. */
const LOCATION = /^[a-z][a-z0-9-]{0,62}$/;
/** Counting tokens is free and needs the same `aiplatform.endpoints.predict` permission Veo does. */
const VALIDATION_MODEL = 'gemini-2.5-flash';

type VeoCredential =
  | { api: 'gemini'; apiKey: string }
  | { api: 'vertex'; text: string; account: ServiceAccount; location: string };

interface Connection {
  api: VeoApi;
  http: HttpContext;
  headers: Record<string, string>;
  secrets: string[];
  account?: ServiceAccount;
}

export function vertexBaseURL(location: string, env: AdapterOptions['env']): string {
  const override = env?.[VERTEX_BASE_URL_VARIABLE]?.trim();
  if (override) return override;
  return location === 'global'
    ? 'https://aiplatform.googleapis.com'
    : `https://${location}-aiplatform.googleapis.com`;
}

function failure(
  kind: 'authentication' | 'bad_request' | 'invalid_response',
  message: string,
): UpstreamError {
  return new UpstreamError({ provider: PROVIDER, kind, message });
}

const startedSchema = z.object({ name: z.string() });

export function createGoogleVeoAdapter({
  baseURL,
  fetch,
  credentials,
  env,
  now = Date.now,
}: AdapterOptions): ProviderAdapter {
  /** The credential as it is now (read per request, never kept), without any network call. */
  async function readCredential(expected?: VeoApi): Promise<VeoCredential> {
    const current = await credentials();
    const apiKey = current.apiKey?.reveal().trim();
    const text = current.serviceAccount?.reveal();
    const api: VeoApi | undefined = apiKey ? 'gemini' : text ? 'vertex' : undefined;
    if (expected && api && api !== expected) {
      throw failure(
        'bad_request',
        `the operation was started on ${expected === 'gemini' ? 'the Gemini API (API key)' : 'Vertex AI (service account)'}; the credential is now for ${api === 'gemini' ? 'the Gemini API' : 'Vertex AI'}`,
      );
    }
    if (apiKey) return { api: 'gemini', apiKey };
    if (!text)
      throw failure('authentication', 'the google-veo credential has neither apiKey nor serviceAccount');
    const account = parseServiceAccount(text);
    const location = current.location?.reveal().trim() || DEFAULT_LOCATION;
    if (!LOCATION.test(location)) {
      throw failure('bad_request', 'location must be a Google Cloud region such as us-central1, or global');
    }
    checkTokenURL(account.tokenURL, env?.[VERTEX_BASE_URL_VARIABLE]?.trim() || undefined);
    return { api: 'vertex', text, account, location };
  }

  async function connect(
    credential: VeoCredential,
    location?: string,
    signal?: AbortSignal,
  ): Promise<Connection> {
    if (credential.api === 'gemini') {
      return {
        api: 'gemini',
        http: { provider: PROVIDER, fetch, baseURL, mapError: mapVeoError, now },
        headers: { 'x-goog-api-key': credential.apiKey },
        secrets: [credential.apiKey],
      };
    }
    const token = (
      await vertexAccessToken(credential.account, { fetch, now, ...(signal ? { signal } : {}) })
    ).reveal();
    return {
      api: 'vertex',
      http: {
        provider: PROVIDER,
        fetch,
        baseURL: vertexBaseURL(location ?? credential.location, env),
        mapError: mapVeoError,
        now,
      },
      headers: { authorization: `Bearer ${token}` },
      secrets: [credential.text, ...serviceAccountSecrets(credential.account), token],
      account: credential.account,
    };
  }

  async function call(
    connection: Connection,
    request: { method: 'GET' | 'POST'; path: string; body?: unknown; signal?: AbortSignal | undefined },
  ): Promise<unknown> {
    try {
      const { data } = await requestJson(connection.http, {
        method: request.method,
        path: request.path,
        headers: { accept: 'application/json', ...connection.headers },
        ...(request.body === undefined ? {} : { body: request.body }),
        ...(request.signal ? { signal: request.signal } : {}),
        secrets: connection.secrets,
      });
      return data;
    } catch (error) {
      // A token Vertex refuses before it expired was revoked: the next call exchanges a new one.
      if (connection.account && isUpstreamError(error, 'authentication'))
        forgetAccessToken(connection.account);
      throw error;
    }
  }

  function modelPath(credential: VeoCredential, model: string): string {
    if (credential.api === 'gemini') return `/v1beta/models/${model}`;
    const { projectId } = credential.account;
    return `/v1beta1/projects/${projectId}/locations/${credential.location}/publishers/google/models/${model}`;
  }

  async function start(request: VideoRequest): Promise<VideoStart> {
    const credential = await readCredential();
    const prediction = buildVeoPrediction(request, credential.api);
    const connection = await connect(credential, undefined, request.signal);
    const data = await call(connection, {
      method: 'POST',
      path: `${modelPath(credential, prediction.model)}:predictLongRunning`,
      body: prediction.body,
      signal: request.signal,
    });
    const started = startedSchema.safeParse(data);
    if (!started.success || !isOperationName(credential.api, started.data.name)) {
      throw failure('invalid_response', 'Veo answered predictLongRunning without a usable operation name');
    }
    return {
      operation: encodeVeoOperation({
        api: credential.api,
        name: started.data.name,
        model: prediction.model,
        durationSeconds: prediction.durationSeconds,
        resolution: prediction.resolution,
      }),
      model: prediction.model,
      warnings: prediction.warnings,
    };
  }

  async function status(operation: string, options: { signal?: AbortSignal } = {}): Promise<VideoStatus> {
    const decoded = decodeVeoOperation(operation);
    const credential = await readCredential(decoded.api);
    if (credential.api === 'gemini') {
      const connection = await connect(credential);
      const data = await call(connection, {
        method: 'GET',
        path: `/v1beta/${decoded.name}`,
        signal: options.signal,
      });
      return mapVeoOperation(data, decoded);
    }
    const resource = vertexResourceOf(decoded.name);
    if (!resource) throw failure('bad_request', 'operation is not a Veo operation returned by start()');
    const connection = await connect(credential, resource.location, options.signal);
    const data = await call(connection, {
      method: 'POST',
      path: `/v1beta1/${resource.resource}:fetchPredictOperation`,
      body: { operationName: decoded.name },
      signal: options.signal,
    });
    return mapVeoOperation(data, decoded);
  }

  async function validate(options: { signal?: AbortSignal } = {}): Promise<ValidationResult> {
    let credential: VeoCredential;
    try {
      credential = await readCredential();
    } catch (error) {
      // Refused before any call: the credential itself is unusable.
      if (isUpstreamError(error)) return { status: 'invalid', reason: error.message };
      throw error;
    }
    try {
      const connection = await connect(credential, undefined, options.signal);
      if (credential.api === 'gemini') {
        await call(connection, { method: 'GET', path: '/v1beta/models?pageSize=1', signal: options.signal });
      } else {
        await call(connection, {
          method: 'POST',
          path: `${modelPath(credential, VALIDATION_MODEL)}:countTokens`,
          body: { contents: [{ role: 'user', parts: [{ text: 'ping' }] }] },
          signal: options.signal,
        });
      }
      return { status: 'valid' };
    } catch (error) {
      return validationResult(error, options.signal);
    }
  }

  return { validate, video: { start, status } };
}
