import { describe, expect, it } from 'vitest';
import { isRetryableRunwayFailure, mapRunwayStatus, runwayTaskSchema } from './map-runway-status.ts';

const operation = { taskId: 't-1', model: 'gen4_turbo', durationSeconds: 10, resolution: '720p' };
const createdAt = '2026-08-25T23:17:00.540Z';

function status(task: unknown) {
  return mapRunwayStatus(runwayTaskSchema.parse(task), operation);
}

describe('mapRunwayStatus', () => {
  it('treats queued and throttled tasks as pending without progress', () => {
    expect(status({ id: 't-1', createdAt, status: 'PENDING', estimatedCost: { credits: 50 } })).toEqual({
      state: 'pending',
    });
    expect(status({ id: 't-1', createdAt, status: 'THROTTLED' })).toEqual({ state: 'pending' });
  });

  it('reports progress from 0 to 1 while running, clamped', () => {
    expect(status({ id: 't-1', createdAt, status: 'RUNNING', progress: 0.9 })).toEqual({
      state: 'pending',
      progress: 0.9,
    });
    expect(status({ id: 't-1', createdAt, status: 'RUNNING', progress: 1.4 })).toEqual({
      state: 'pending',
      progress: 1,
    });
    expect(status({ id: 't-1', createdAt, status: 'RUNNING' })).toEqual({ state: 'pending' });
  });

  it('reports the outputs and the seconds from the operation on success', () => {
    expect(
      status({
        id: 't-1',
        createdAt,
        status: 'SUCCEEDED',
        output: ['https://cdn.example/a.mp4?_jwt=x'],
        cost: { credits: 50 },
      }),
    ).toMatchObject({
      state: 'succeeded',
      outputs: [{ url: 'https://cdn.example/a.mp4?_jwt=x', mediaType: 'video/mp4' }],
      usage: { videoSeconds: 10, images: 0, inputTokens: 0 },
    });
  });

  it('keeps a failure without a code, not retryable', () => {
    expect(status({ id: 't-1', createdAt, status: 'FAILED', failure: 'Something broke' })).toEqual({
      state: 'failed',
      code: 'FAILED',
      message: 'Something broke',
      retryable: false,
    });
  });

  it('reports a task Runway lists as CANCELLED as a failure that is not retried', () => {
    expect(status({ id: 't-1', createdAt, status: 'CANCELLED', cost: { credits: 0 } })).toEqual({
      state: 'failed',
      code: 'cancelled',
      message: 'the task was cancelled',
      retryable: false,
    });
  });
});

describe('isRetryableRunwayFailure', () => {
  it.each([
    ['SAFETY.INPUT.TEXT', false],
    ['SAFETY.OUTPUT.VIDEO', false],
    ['INPUT_PREPROCESSING.SAFETY.TEXT', false],
    ['ASSET.INVALID', false],
    ['INTERNAL.BAD_OUTPUT.CODE01', true],
    ['INTERNAL', true],
    ['INPUT_PREPROCESSING.INTERNAL', true],
    ['INTERNALS', false],
  ])('%s -> %s', (code, retryable) => {
    expect(isRetryableRunwayFailure(code)).toBe(retryable);
  });
});
