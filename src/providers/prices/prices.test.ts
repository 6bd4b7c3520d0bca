import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EMPTY_USAGE, type Usage } from '../spec.ts';
import { costOf, createPriceTable, loadPriceTable, PRICE_TABLE_VERSION } from './index.ts';

const usage = (parts: Partial<Usage>): Usage => ({ ...EMPTY_USAGE, ...parts });

describe('cost', () => {
  const table = createPriceTable();

  it('prices cache reads and writes at their own prices and reasoning as output', () => {
    // claude-haiku-4-5: 1000 input × 1 + 200 cache read × 0.1 + 400 cache write × 1.25 + 500 output × 5
    // = 1000 + 20 + 500 + 2500 = 4020 micro-USD (USD per million tokens = micro-USD per token).
    expect(
      table.cost(
        'anthropic',
        'claude-haiku-4-5',
        usage({
          inputTokens: 1000,
          cacheReadTokens: 200,
          cacheWriteTokens: 400,
          outputTokens: 500,
          reasoningTokens: 300,
        }),
      ),
    ).toBe(4020);
  });

  it('prices video by seconds and resolution, and images each', () => {
    // veo-3.1-fast 8 s at 1080p: 8 × 0.12 USD = 0.96 USD = 960000 micro-USD.
    expect(
      table.cost('google-veo', 'veo-3.1-fast-generate-preview', usage({ videoSeconds: 8 }), {
        resolution: '1080p',
      }),
    ).toBe(960_000);
    // A model with one video price needs no resolution: runway gen4_turbo 5 s × 0.05 = 250000.
    expect(table.cost('runway', 'gen4_turbo', usage({ videoSeconds: 5 }))).toBe(250_000);
    expect(table.cost('stability', 'core', usage({ images: 2 }))).toBe(60_000);
  });

  it('is null, never 0, for an unpriced model or a usage part without a price', () => {
    expect(table.cost('luma', 'ray-2', usage({ videoSeconds: 5 }))).toBeNull();
    expect(table.cost('openai', 'no-such-model', usage({ inputTokens: 10 }))).toBeNull();
    expect(
      table.cost('google-veo', 'veo-3.1-generate-preview', usage({ videoSeconds: 8 }), { resolution: '8k' }),
    ).toBeNull();
    expect(costOf({ inputPerMillion: 1 }, usage({ outputTokens: 5 }))).toBeNull();
    expect(table.cost('openai', 'gpt-4o', EMPTY_USAGE)).toBe(0);
  });

  it('rounds to whole micro-USD', () => {
    // gpt-4o-mini: 3 input × 0.15 + 1 output × 0.6 = 1.05 -> 1
    expect(table.cost('openai', 'gpt-4o-mini', usage({ inputTokens: 3, outputTokens: 1 }))).toBe(1);
  });
});

describe('price overrides', () => {
  it('merges a price file over the table, model by model, and versions the result', () => {
    const directory = mkdtempSync(join(tmpdir(), 'keyhaven-prices-'));
    try {
      const path = join(directory, 'prices.json');
      writeFileSync(
        path,
        JSON.stringify({
          version: 'acme-1',
          prices: {
            luma: { 'ray-2': { videoPerSecond: { '720p': 0.06 } } },
            openai: { 'gpt-4o': { inputPerMillion: 2, outputPerMillion: 8 } },
          },
        }),
      );
      const table = loadPriceTable(path);
      expect(table.version).toBe(`${PRICE_TABLE_VERSION}+acme-1`);
      expect(table.cost('luma', 'ray-2', usage({ videoSeconds: 5 }))).toBe(300_000);
      expect(table.cost('openai', 'gpt-4o', usage({ inputTokens: 1000 }))).toBe(2000);
      expect(table.cost('openai', 'gpt-4o-mini', usage({ inputTokens: 1000 }))).toBe(150);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('refuses a malformed file naming the variable and the field', () => {
    const directory = mkdtempSync(join(tmpdir(), 'keyhaven-prices-'));
    try {
      const path = join(directory, 'prices.json');
      writeFileSync(
        path,
        JSON.stringify({ version: 'x', prices: { openai: { 'gpt-4o': { inputPerMillion: -1 } } } }),
      );
      expect(() => loadPriceTable(path)).toThrow(
        /KEYHAVEN_PRICES_FILE: prices\.openai\.gpt-4o\.inputPerMillion/,
      );
      writeFileSync(path, '{not json');
      expect(() => loadPriceTable(path)).toThrow(/KEYHAVEN_PRICES_FILE/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
