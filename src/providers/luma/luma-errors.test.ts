import { describe, expect, it } from 'vitest';
import { mapLumaError } from './luma-errors.ts';
import { mapLumaGeneration } from './map-luma-generation.ts';

describe('mapLumaError', () => {
  it("joins a 422's validation issues into one message naming each field", () => {
    const body = {
      detail: [
        {
          type: 'literal_error',
          loc: ['body', 'duration'],
          msg: "Input should be '5s' or '9s'",
          input: '7s',
        },
        { type: 'missing', loc: ['body', 'model'], msg: 'Field required', input: {} },
      ],
    };
    expect(mapLumaError(422, body)).toEqual({
      kind: 'bad_request',
      message: "duration: Input should be '5s' or '9s'; model: Field required",
    });
  });

  it('reads moderation and an empty credit balance from the message', () => {
    expect(mapLumaError(400, { detail: 'Advanced prompt moderation failed' })).toEqual({
      kind: 'content_filtered',
      message: 'Advanced prompt moderation failed',
    });
    expect(mapLumaError(400, { detail: 'Insufficient credits' }).kind).toBe('quota_exhausted');
    expect(mapLumaError(402, {}).kind).toBe('quota_exhausted');
  });

  it('leaves the rest to the HTTP status, keeping the detail as the message', () => {
    expect(mapLumaError(401, { detail: 'Invalid API key' })).toEqual({ message: 'Invalid API key' });
    expect(mapLumaError(502, '<html>Bad gateway</html>')).toEqual({});
  });
});

describe('mapLumaGeneration', () => {
  const operation = { id: 'g-1', model: 'ray-2', durationSeconds: 5, resolution: '720p' };

  it('treats an unreadable keyframe as bad input and a completed generation without a video as a failure', () => {
    expect(
      mapLumaGeneration(
        { id: 'g-1', state: 'failed', failure_reason: 'Failed to read user input frames' },
        operation,
      ),
    ).toMatchObject({ code: 'bad_input', retryable: false });
    expect(
      mapLumaGeneration({ id: 'g-1', state: 'completed', assets: { video: null } }, operation),
    ).toMatchObject({
      state: 'failed',
      code: 'no_output',
    });
  });
});
