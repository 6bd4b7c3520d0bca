import { describe, expect, it } from 'vitest';
import { createProviderRegistry } from '../registry.ts';
import { stabilityProvider } from './index.ts';

describe('stabilityProvider', () => {
  it('declares image generation with its limits, retired video, and the default rate limits', () => {
    expect(stabilityProvider.capabilities.image).toEqual({
      models: ['core', 'ultra', 'sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium'],
      aspectRatios: ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'],
      outputFormats: ['png', 'jpeg', 'webp'],
      status: { state: 'available' },
    });
    expect(stabilityProvider.capabilities.video?.status).toMatchObject({
      state: 'retired',
      date: '2025-07-24',
    });
    expect(stabilityProvider.defaultRateLimits).toEqual({ perMinute: 3, perHour: 30 });
    expect(stabilityProvider.models.find((model) => model.id === 'core')).toEqual({
      id: 'core',
      kind: 'image',
      price: { perImage: 0.03 },
    });
    expect(stabilityProvider.models.find((model) => model.id === 'ultra')).toEqual({
      id: 'ultra',
      kind: 'image',
    });
  });

  it('registers, and is overridable with KEYHAVEN_STABILITY_BASE_URL', () => {
    const registry = createProviderRegistry({
      providers: [stabilityProvider],
      env: { KEYHAVEN_STABILITY_BASE_URL: 'http://127.0.0.1:9/stability' },
    });
    expect(registry.baseURL('stability')).toBe('http://127.0.0.1:9/stability');
    expect(() => registry.adapterFromCredentials('stability', {})).toThrow(/apiKey/);
  });
});
