import { randomBytes } from 'node:crypto';
import {
  AuthenticationError,
  BadRequestError,
  LumaAI,
  NotFoundError,
  RateLimitError,
  UnprocessableEntityError,
} from 'lumaai';
import { describe, expect, it } from 'vitest';
import { LUMA_FAILURE_REASONS, lumaSimulation } from '../../src/simulator/providers/luma.ts';
import { useSimulator } from '../support/providers.ts';

/**
 * The official Luma SDK (lumaai) as a real client of the simulator: it must parse what the simulator
 * sends exactly as it parses Luma, and raise its own error classes for Luma's errors.
 */
const KEY = `luma-test-${randomBytes(16).toString('hex')}`;

const simulator = useSimulator({ providers: [lumaSimulation], keys: { luma: [KEY] } });

const client = (authToken = KEY) =>
  new LumaAI({ authToken, baseURL: simulator.baseURL('luma'), maxRetries: 0 });

async function untilSettled(luma: LumaAI, id: string) {
  const states: string[] = [];
  for (let poll = 0; poll < 10; poll += 1) {
    const generation = await luma.generations.get(id);
    states.push(generation.state ?? '');
    if (generation.state === 'completed' || generation.state === 'failed') return { generation, states };
  }
  throw new Error(`generation ${id} did not settle: ${states.join(', ')}`);
}

describe('lumaai against the simulator', () => {
  it('reads the credit balance, sending the key as a Bearer token', async () => {
    const credits = await client().credits.get();
    expect(credits.credit_balance).toBeGreaterThan(0);
    expect(simulator.requests[0]?.path).toBe('/dream-machine/v1/credits');
    expect(simulator.requests[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('creates a generation and reads it through queued and dreaming to completed', async () => {
    const luma = client();
    const created = await luma.generations.create({
      model: 'ray-2',
      prompt: 'A lantern floating over a lake',
      aspect_ratio: '16:9',
      duration: '5s',
      resolution: '720p',
      keyframes: { frame0: { type: 'image', url: 'https://images.example/lantern.jpg' } },
    });
    expect(created.state).toBe('queued');
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.generation_type).toBe('video');
    expect(simulator.requests[0]?.path).toBe('/dream-machine/v1/generations/video');
    const { generation, states } = await untilSettled(luma, created.id ?? '');
    expect(states).toEqual(['dreaming', 'dreaming', 'completed']);
    expect(generation.assets?.video).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/luma\/cdn\/.+\.mp4$/);
    expect(generation.request).toMatchObject({ model: 'ray-2', duration: '5s', resolution: '720p' });
    const listed = await luma.generations.list({ limit: 5 });
    expect(listed.generations.map((entry) => entry.id)).toContain(created.id);
  });

  it('reads a failed generation with its failure reason', async () => {
    const luma = client();
    const created = await luma.generations.create({ model: 'ray-flash-2', prompt: 'simulate:fail a scene' });
    const { generation } = await untilSettled(luma, created.id ?? '');
    expect(generation.state).toBe('failed');
    expect(generation.failure_reason).toBe(LUMA_FAILURE_REASONS.moderation);
    expect(generation.assets).toBeNull();
  });

  it('deletes a generation, after which it is not found', async () => {
    const luma = client();
    const created = await luma.generations.create({ model: 'ray-2', prompt: 'Falling leaves' });
    await luma.generations.delete(created.id ?? '');
    await expect(luma.generations.get(created.id ?? '')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('raises AuthenticationError for an unknown key, with the detail Luma sends', async () => {
    const error = await client('luma-test-wrong')
      .credits.get()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).status).toBe(401);
    expect((error as AuthenticationError).error).toEqual({ detail: 'Invalid API key' });
  });

  it('raises its classes for a bad prompt, a body that fails validation and a rate limit', async () => {
    const luma = client();
    const short = await luma.generations
      .create({ model: 'ray-2', prompt: 'ab' })
      .catch((caught: unknown) => caught);
    expect(short).toBeInstanceOf(BadRequestError);
    expect((short as BadRequestError).message).toContain('Prompt is too short');
    const invalid = await luma.generations
      .create({ model: 'ray-2', prompt: 'A dune', duration: '7s' })
      .catch((caught: unknown) => caught);
    expect(invalid).toBeInstanceOf(UnprocessableEntityError);
    expect((invalid as UnprocessableEntityError).error).toMatchObject({
      detail: [{ loc: ['body', 'duration'], type: 'literal_error' }],
    });
    simulator.addFault({ provider: 'luma', status: 429, retryAfterSeconds: 2, count: 1 });
    const limited = await luma.credits.get().catch((caught: unknown) => caught);
    expect(limited).toBeInstanceOf(RateLimitError);
    expect((limited as RateLimitError).headers?.['retry-after']).toBe('2');
  });
});
