import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../server.ts';
import { runwaySimulation } from './runway.ts';

/** Wire details of the simulated Runway that the SDK conformance suite does not reach. */
const KEY = 'key_test_simulator_wire';
let simulator: Simulator;

beforeAll(async () => {
  simulator = await startSimulator({
    providers: [runwaySimulation],
    keys: { runway: [KEY, 'key_test_other'] },
  });
});
afterAll(() => simulator.close());
afterEach(() => simulator.reset());

function call(
  path: string,
  {
    key = KEY,
    version = '2024-11-06',
    method = 'GET',
    body,
  }: {
    key?: string | null;
    version?: string | null;
    method?: string;
    body?: unknown;
  } = {},
) {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (version) headers['x-runway-version'] = version;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${simulator.baseURL('runway')}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const json = async (response: Response) => (await response.json()) as Record<string, unknown>;

describe('simulated Runway', () => {
  it('requires X-Runway-Version, answering 400 in its error shape', async () => {
    const missing = await call('/v1/organization', { version: null });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      error: expect.stringContaining('X-Runway-Version'),
      docUrl: 'https://docs.dev.runwayml.com/api',
    });
    const wrong = await call('/v1/organization', { version: '2023-01-01' });
    expect(wrong.status).toBe(400);
    expect((await json(wrong)).error).toMatch(/2023-01-01 is not a valid X-Runway-Version/);
  });

  it('answers 401 with a missing key and with an unknown one', async () => {
    const missing = await call('/v1/organization', { key: null });
    expect(missing.status).toBe(401);
    expect((await json(missing)).error).toMatch(/No API key was provided/);
    const unknown = await call('/v1/organization', { key: 'key_test_unknown' });
    expect(unknown.status).toBe(401);
    expect((await json(unknown)).error).toMatch(/incorrect/);
  });

  it('validates task bodies per model and endpoint, with issues naming each field', async () => {
    const textOnly = await call('/v1/text_to_video', {
      method: 'POST',
      body: { model: 'gen4_turbo', promptText: 'a fox', ratio: '1280:720' },
    });
    expect(textOnly.status).toBe(400);
    expect(await textOnly.json()).toMatchObject({
      error: 'Validation of body failed',
      issues: [{ path: ['model'] }],
    });

    const badImage = await call('/v1/image_to_video', {
      method: 'POST',
      body: { model: 'gen4_turbo', promptImage: 'http://10.0.0.1/a.png', ratio: '1280:720' },
    });
    expect((await json(badImage)).issues).toEqual([expect.objectContaining({ path: ['promptImage'] })]);
  });

  it("keeps each key's tasks to itself and serves outputs only through signed URLs", async () => {
    const created = await call('/v1/text_to_video', {
      method: 'POST',
      body: { model: 'gen4.5', promptText: 'a fox', ratio: '1280:720', duration: 5 },
    });
    const { id } = (await created.json()) as { id: string };
    expect((await call(`/v1/tasks/${id}`, { key: 'key_test_other' })).status).toBe(404);
    let task: { status: string; output?: string[] } = { status: 'PENDING' };
    for (let poll = 0; poll < 3; poll += 1) task = (await json(await call(`/v1/tasks/${id}`))) as typeof task;
    expect(task.status).toBe('SUCCEEDED');
    const url = new URL(task.output?.[0] ?? '');
    expect((await fetch(url)).status).toBe(200);
    url.search = '';
    expect((await fetch(url)).status).toBe(404);
  });
});
