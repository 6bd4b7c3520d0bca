import { describe, expect, it } from 'vitest';
import { kindFromStatus, parseDuration, retryAfterFromHeaders, UpstreamError } from './upstream-error.ts';

describe('parseDuration', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  it.each([
    ['12', 12_000],
    ['1.5', 1_500],
    ['1s', 1_000],
    ['6m0s', 360_000],
    ['12ms', 12],
    ['37.2s', 37_200],
    ['1h2m3.5s', 3_723_500],
    ['2026-11-21T12:00:30Z', 30_000],
    ['Sat, 21 Nov 2026 12:01:00 GMT', 60_000],
  ])('reads %s as %i ms', (text, expected) => {
    expect(parseDuration(text, now)).toBe(expected);
  });

  it('gives nothing for absent or unreadable values, and never a negative wait', () => {
    expect(parseDuration(undefined, now)).toBeUndefined();
    expect(parseDuration('', now)).toBeUndefined();
    expect(parseDuration('soon', now)).toBeUndefined();
    expect(parseDuration('2026-11-21T11:00:00Z', now)).toBe(0);
  });
});

describe('retryAfterFromHeaders', () => {
  it('prefers retry-after-ms, then retry-after, then the longest reset header', () => {
    expect(retryAfterFromHeaders(new Headers({ 'retry-after-ms': '250', 'retry-after': '3' }))).toBe(250);
    expect(retryAfterFromHeaders(new Headers({ 'retry-after': '3' }))).toBe(3000);
    expect(
      retryAfterFromHeaders(
        new Headers({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }),
      ),
    ).toBe(360_000);
    expect(retryAfterFromHeaders(new Headers())).toBeUndefined();
  });
});

describe('UpstreamError', () => {
  it('marks only transient kinds retryable', () => {
    const make = (status: number) =>
      new UpstreamError({ provider: 'p', kind: kindFromStatus(status), message: 'm', status });
    expect([429, 500, 502, 503, 504, 529].map((status) => make(status).retryable)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect([400, 401, 403, 404].map((status) => make(status).retryable)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(
      new UpstreamError({ provider: 'p', kind: 'quota_exhausted', message: 'm', status: 429 }).retryable,
    ).toBe(false);
  });
});
