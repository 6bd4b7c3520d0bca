import { describe, expect, it } from 'vitest';
import { DEFAULT_WEBHOOK_SETTINGS, retryDelayMs, webhookSettingsFromEnv } from './settings.ts';

describe('webhook settings', () => {
  it('defaults without variables, and reads each variable', () => {
    expect(webhookSettingsFromEnv({})).toEqual(DEFAULT_WEBHOOK_SETTINGS);
    expect(
      webhookSettingsFromEnv({
        KEYHAVEN_WEBHOOK_MAX_ATTEMPTS: '3',
        KEYHAVEN_WEBHOOK_RETRY_BASE_MS: '50',
        KEYHAVEN_WEBHOOK_RETRY_MAX_MS: '1000',
        KEYHAVEN_WEBHOOK_TIMEOUT_MS: '2000',
        KEYHAVEN_WEBHOOK_POLL_MS: ' 20 ',
      }),
    ).toEqual({
      maxAttempts: 3,
      retryBaseMs: 50,
      retryMaxMs: 1000,
      timeoutMs: 2000,
      pollIntervalMs: 20,
      retentionDays: 30,
    });
  });

  it.each([
    ['KEYHAVEN_WEBHOOK_MAX_ATTEMPTS', '0'],
    ['KEYHAVEN_WEBHOOK_MAX_ATTEMPTS', 'many'],
    ['KEYHAVEN_WEBHOOK_TIMEOUT_MS', '-5'],
    ['KEYHAVEN_WEBHOOK_POLL_MS', '1.5'],
  ])('refuses %s=%s naming the variable', (variable, value) => {
    expect(() => webhookSettingsFromEnv({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
  });
});

describe('retry delay', () => {
  const settings = { retryBaseMs: 1000, retryMaxMs: 60_000 };

  it('grows 4x per attempt, between half and all of the nominal wait, capped', () => {
    expect(retryDelayMs(1, settings, { random: () => 0 })).toBe(500);
    expect(retryDelayMs(1, settings, { random: () => 1 })).toBe(1000);
    expect(retryDelayMs(2, settings, { random: () => 0 })).toBe(2000);
    expect(retryDelayMs(3, settings, { random: () => 1 })).toBe(16_000);
    expect(retryDelayMs(10, settings, { random: () => 1 })).toBe(60_000);
    expect(retryDelayMs(10, settings, { random: () => 0 })).toBe(30_000);
  });

  it('spreads retries with jitter', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(2, settings)));
    expect(delays.size).toBeGreaterThan(10);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(2000);
      expect(delay).toBeLessThanOrEqual(4000);
    }
  });

  it("honours a receiver's Retry-After up to the cap", () => {
    expect(retryDelayMs(1, settings, { random: () => 0, retryAfterMs: 30_000 })).toBe(30_000);
    expect(retryDelayMs(1, settings, { random: () => 0, retryAfterMs: 10 })).toBe(500);
    expect(retryDelayMs(1, settings, { random: () => 0, retryAfterMs: 3_600_000 })).toBe(60_000);
  });
});
