import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { KeyhavenError } from '../../errors.ts';
import type { ModelInfo, ModelPrice, Usage } from '../spec.ts';
import { builtInPrices, PRICE_TABLE_SOURCE, PRICE_TABLE_VERSION } from './table.ts';

/**
 * Prices and cost. Cost is integer micro-USD: a price in USD per million tokens is exactly micro-USD
 * per token. Cache reads and writes have their own prices, reasoning tokens are part of the output,
 * video is priced by seconds and resolution. A call whose model (or resolution) has no price costs
 * null and is counted as unpriced, never as 0.
 */
export interface PriceTable {
  version: string;
  source: string;
  price(provider: string, model: string): ModelPrice | undefined;
  /** Cost in micro-USD, or null when the model or a part of the usage has no price. */
  cost(provider: string, model: string, usage: Usage, options?: { resolution?: string }): number | null;
}

const price = z.strictObject({
  inputPerMillion: z.number().min(0).optional(),
  outputPerMillion: z.number().min(0).optional(),
  cacheReadPerMillion: z.number().min(0).optional(),
  cacheWritePerMillion: z.number().min(0).optional(),
  videoPerSecond: z.record(z.string(), z.number().min(0)).optional(),
  perImage: z.number().min(0).optional(),
});

export const priceFileSchema = z.strictObject({
  version: z.string().min(1),
  source: z.string().optional(),
  /** provider -> model -> price; merged over the built-in table, model by model. */
  prices: z.record(z.string(), z.record(z.string(), price)),
});

/** Micro-USD for a token count (a price per million tokens is micro-USD per token); null if unpriced. */
function tokenCost(count: number, perMillion: number | undefined): number | null {
  if (count === 0) return 0;
  return perMillion === undefined ? null : count * perMillion;
}

export function costOf(modelPrice: ModelPrice | undefined, usage: Usage, resolution?: string): number | null {
  if (!modelPrice) return null;
  // Without a cache price of its own, cached input is billed as input (what providers do when they have
  // no discount), never dropped.
  const input = tokenCost(usage.inputTokens, modelPrice.inputPerMillion);
  const output = tokenCost(usage.outputTokens, modelPrice.outputPerMillion);
  const cacheRead = tokenCost(
    usage.cacheReadTokens,
    modelPrice.cacheReadPerMillion ?? modelPrice.inputPerMillion,
  );
  const cacheWrite = tokenCost(
    usage.cacheWriteTokens,
    modelPrice.cacheWritePerMillion ?? modelPrice.inputPerMillion,
  );
  if (input === null || output === null || cacheRead === null || cacheWrite === null) return null;
  let micro = input + output + cacheRead + cacheWrite;
  if (usage.videoSeconds > 0) {
    const perSecond = resolution ? modelPrice.videoPerSecond?.[resolution] : undefined;
    const only = modelPrice.videoPerSecond ? Object.values(modelPrice.videoPerSecond) : [];
    const rate = perSecond ?? (only.length === 1 ? only[0] : undefined);
    if (rate === undefined) return null;
    micro += usage.videoSeconds * rate * 1_000_000;
  }
  if (usage.images > 0) {
    if (modelPrice.perImage === undefined) return null;
    micro += usage.images * modelPrice.perImage * 1_000_000;
  }
  return Math.round(micro);
}

export function createPriceTable(overrides?: z.infer<typeof priceFileSchema>): PriceTable {
  const merged = new Map<string, ModelPrice>();
  for (const [provider, models] of Object.entries(builtInPrices)) {
    for (const [model, modelPrice] of Object.entries(models)) merged.set(`${provider}/${model}`, modelPrice);
  }
  for (const [provider, models] of Object.entries(overrides?.prices ?? {})) {
    for (const [model, modelPrice] of Object.entries(models)) merged.set(`${provider}/${model}`, modelPrice);
  }
  const lookup = (provider: string, model: string) => merged.get(`${provider}/${model}`);
  return {
    version: overrides ? `${PRICE_TABLE_VERSION}+${overrides.version}` : PRICE_TABLE_VERSION,
    source: overrides?.source ? `${PRICE_TABLE_SOURCE}; overrides: ${overrides.source}` : PRICE_TABLE_SOURCE,
    price: lookup,
    cost: (provider, model, usage, options = {}) =>
      costOf(lookup(provider, model), usage, options.resolution),
  };
}

/** Loads KEYHAVEN_PRICES_FILE-style overrides: a JSON file of { version, source?, prices }. */
export function loadPriceTable(path?: string): PriceTable {
  if (!path) return createPriceTable();
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new KeyhavenError(
      'invalid_config',
      `KEYHAVEN_PRICES_FILE: ${path} could not be read as JSON (${error instanceof Error ? error.message : 'unknown error'})`,
    );
  }
  const result = priceFileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new KeyhavenError(
      'invalid_config',
      `KEYHAVEN_PRICES_FILE: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return createPriceTable(result.data);
}

export const defaultPriceTable = createPriceTable();

/** A provider's models as it declares them, each with its built-in price when the table has one. */
export function pricedModels(provider: string, kind: ModelInfo['kind'], ids: readonly string[]): ModelInfo[] {
  const prices = builtInPrices[provider] ?? {};
  return ids.map((id) => {
    const price = prices[id];
    return price ? { id, kind, price } : { id, kind };
  });
}
