import { describe, expect, it } from 'vitest';
import { createProviderRegistry } from '../registry.ts';
import { runwayProvider } from './index.ts';

describe('runwayProvider', () => {
  it('declares its video models with their real limits and the default rate limits', () => {
    const models = runwayProvider.capabilities.video?.models ?? [];
    expect(models.map((model) => model.id)).toEqual(['gen4_turbo', 'gen4.5', 'veo3.1', 'veo3.1_fast']);
    expect(models[0]).toEqual({
      id: 'gen4_turbo',
      durations: [2, 3, 4, 5, 6, 7, 8, 9, 10],
      resolutions: ['720p'],
      aspectRatios: ['16:9', '9:16', '4:3', '3:4', '1:1', '21:9'],
      imageInput: true,
    });
    expect(models[2]).toMatchObject({ durations: [4, 6, 8], resolutions: ['720p', '1080p'] });
    expect(runwayProvider.defaultRateLimits).toEqual({ perMinute: 5, perHour: 50 });
    expect(runwayProvider.status).toEqual({ state: 'available' });
    expect(runwayProvider.models.find((model) => model.id === 'gen4_turbo')?.price).toEqual({
      videoPerSecond: { '720p': 0.05 },
    });
  });

  it('registers, and is overridable with KEYHAVEN_RUNWAY_BASE_URL', () => {
    const registry = createProviderRegistry({
      providers: [runwayProvider],
      env: { KEYHAVEN_RUNWAY_BASE_URL: 'http://127.0.0.1:9/runway' },
    });
    expect(registry.baseURL('runway')).toBe('http://127.0.0.1:9/runway');
    expect(registry.list().map((provider) => provider.id)).toEqual(['runway']);
  });

  it('refuses credentials that do not match its schema, naming the field', () => {
    const registry = createProviderRegistry({ providers: [runwayProvider] });
    expect(() => registry.adapterFromCredentials('runway', { key: 'key_test_x' })).toThrow(/apiKey/);
    expect(() =>
      registry.adapterFromCredentials('runway', { apiKey: 'key_test_x', organization: '' }),
    ).toThrow(/organization/);
  });
});
