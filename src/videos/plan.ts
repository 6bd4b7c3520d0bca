import { KeyhavenError } from '../errors.ts';
import type { PriceTable } from '../providers/prices/index.ts';
import type { ProviderDefinition, VideoModelInfo } from '../providers/spec.ts';
import { EMPTY_USAGE } from '../providers/spec.ts';

/**
 * Turns a video request into the attempts a job will make: each provider's request checked against
 * what the provider declares (models, durations, resolutions, aspect ratios, image input), with the
 * defaults filled in and an estimated cost. Refusals are 422-class errors that list the allowed values;
 * a retired capability is `capability_retired` with its date.
 */
export interface VideoJobRequest {
  prompt: string;
  model?: string;
  durationSeconds?: number;
  aspectRatio?: string;
  resolution?: string;
  image?: string;
}

export interface PlannedAttempt {
  provider: string;
  model: string;
  durationSeconds: number;
  resolution: string;
  aspectRatio: string;
  /** Integer micro-USD, or null when the model is unpriced. */
  estimatedCost: number | null;
}

export type ProviderChoice =
  | { provider: string }
  | { providers: readonly string[] }
  | { strategy: 'cheapest' };

function unsupported(
  provider: string,
  field: string,
  value: unknown,
  allowed: readonly (string | number)[],
): KeyhavenError {
  return new KeyhavenError(
    'unsupported_request',
    `${provider} does not support ${field} ${JSON.stringify(value)}; allowed: ${allowed.join(', ')}`,
    { details: { provider, field, allowed: [...allowed] } },
  );
}

function pick<T extends string | number>(
  provider: string,
  field: string,
  requested: T | undefined,
  allowed: readonly T[],
  preferred?: T,
): T {
  if (requested === undefined) {
    const fallback = preferred !== undefined && allowed.includes(preferred) ? preferred : allowed[0];
    if (fallback === undefined) throw unsupported(provider, field, requested, allowed);
    return fallback;
  }
  if (!allowed.includes(requested)) throw unsupported(provider, field, requested, allowed);
  return requested;
}

export function planAttempt(
  definition: ProviderDefinition,
  request: VideoJobRequest,
  prices: PriceTable,
): PlannedAttempt {
  const provider = definition.id;
  const video = definition.capabilities.video;
  if (!video) {
    throw new KeyhavenError('unsupported_request', `${definition.displayName} does not generate video`, {
      details: { provider },
    });
  }
  if (video.status.state === 'retired') {
    throw new KeyhavenError(
      'capability_retired',
      `${definition.displayName} video generation was retired by the provider on ${video.status.date}: ${video.status.reason}`,
      { details: { provider, date: video.status.date } },
    );
  }
  const models = video.models;
  const model: VideoModelInfo | undefined = request.model
    ? models.find((candidate) => candidate.id === request.model)
    : models[0];
  if (!model)
    throw unsupported(
      provider,
      'model',
      request.model,
      models.map((candidate) => candidate.id),
    );
  if (request.image !== undefined && !model.imageInput)
    throw unsupported(provider, 'an input image with model', model.id, []);
  const durationSeconds = pick(provider, 'durationSeconds', request.durationSeconds, model.durations);
  const resolution = pick(provider, 'resolution', request.resolution, model.resolutions, '720p');
  const aspectRatio = pick(provider, 'aspectRatio', request.aspectRatio, model.aspectRatios, '16:9');
  const estimatedCost = prices.cost(
    provider,
    model.id,
    { ...EMPTY_USAGE, videoSeconds: durationSeconds },
    { resolution },
  );
  return { provider, model: model.id, durationSeconds, resolution, aspectRatio, estimatedCost };
}

export interface PlanOptions {
  request: VideoJobRequest;
  choice: ProviderChoice;
  providers: (id: string) => ProviderDefinition | undefined;
  /** The providers the user has a credential for (the cheapest strategy chooses among these). */
  connected: readonly string[];
  prices: PriceTable;
}

/** The ordered attempts of a job: one provider, an explicit failover list, or the cheapest able ones. */
export function planVideoJob({
  request,
  choice,
  providers,
  connected,
  prices,
}: PlanOptions): PlannedAttempt[] {
  const definition = (id: string) => {
    const found = providers(id);
    if (!found)
      throw new KeyhavenError('unknown_provider', `unknown provider ${JSON.stringify(id).slice(0, 60)}`);
    return found;
  };
  if ('provider' in choice) return [planAttempt(definition(choice.provider), request, prices)];
  if ('providers' in choice) {
    if (choice.providers.length === 0 || new Set(choice.providers).size !== choice.providers.length) {
      throw new KeyhavenError('invalid_request', 'providers must list one or more distinct providers');
    }
    return choice.providers.map((id) => planAttempt(definition(id), request, prices));
  }
  const able: PlannedAttempt[] = [];
  const refusals: string[] = [];
  for (const id of connected) {
    const found = providers(id);
    if (!found?.capabilities.video) continue;
    try {
      able.push(planAttempt(found, request, prices));
    } catch (error) {
      refusals.push(error instanceof Error ? error.message : id);
    }
  }
  if (able.length === 0) {
    throw new KeyhavenError(
      'unsupported_request',
      'none of your connected providers can generate this video',
      {
        details: { reasons: refusals },
      },
    );
  }
  // Priced attempts by cost; unpriced ones after them (their cost is unknown, not zero), in catalog order.
  return able.sort(
    (a, b) => (a.estimatedCost ?? Number.POSITIVE_INFINITY) - (b.estimatedCost ?? Number.POSITIVE_INFINITY),
  );
}
