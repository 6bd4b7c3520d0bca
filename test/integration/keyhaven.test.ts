import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { generateMasterKey } from '../../src/crypto/index.ts';
import { isKeyhavenError } from '../../src/errors.ts';
import { createKeyhaven, type Keyhaven } from '../../src/keyhaven.ts';
import { type Simulator, simulatorEnvironment, startProviderSimulator } from '../../src/simulator/index.ts';
import { ANTHROPIC_SIMULATOR_KEY } from '../../src/simulator/providers/anthropic.ts';
import { OPENAI_SIMULATOR_KEY } from '../../src/simulator/providers/openai.ts';
import { runCli } from '../support/cli.ts';

/**
 * The library end to end against the simulator: credentials validated by the real adapters before they
 * are stored, the catalog, and adapters that call a provider with the user's stored key.
 */
describe('createKeyhaven with the provider simulator', () => {
  let simulator: Simulator;
  let keyhaven: Keyhaven;
  let dataDir: string;

  beforeAll(async () => {
    simulator = await startProviderSimulator({ port: 0 });
    dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-integration-'));
    keyhaven = await createKeyhaven({
      config: loadConfig({
        ...simulatorEnvironment(simulator),
        KEYHAVEN_DATA_DIR: dataDir,
        KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
      }),
      warn: () => {},
    });
  });
  afterAll(async () => {
    await keyhaven?.close();
    await simulator?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists every built-in provider with its icon, credential fields and status, and nothing secret', () => {
    const catalog = keyhaven.catalog();
    expect(catalog.map((provider) => provider.id)).toEqual([
      'openai',
      'anthropic',
      'google-gemini',
      'google-veo',
      'runway',
      'stability',
      'luma',
      'mistral',
    ]);
    for (const provider of catalog) {
      expect(provider.icon).toMatch(/^<svg[\s>]/);
      expect(provider.credentialFields.length).toBeGreaterThan(0);
    }
    expect(catalog.find((provider) => provider.id === 'openai')?.capabilities.video?.status).toMatchObject({
      state: 'retired',
      date: '2026-09-24',
    });
    expect(catalog.find((provider) => provider.id === 'stability')?.capabilities.video?.status).toMatchObject(
      {
        state: 'retired',
        date: '2025-07-24',
      },
    );
  });

  it('validates with the provider before storing: a good key is stored valid, a bad one refused with the reason', async () => {
    const stored = await keyhaven.vault.store({
      userId: 'user-1',
      provider: 'openai',
      credentials: { apiKey: OPENAI_SIMULATOR_KEY },
    });
    expect(stored).toMatchObject({ connected: true, status: 'valid', version: 1 });
    const refused = await keyhaven.vault
      .store({ userId: 'user-1', provider: 'anthropic', credentials: { apiKey: 'sk-test-not-a-real-key' } })
      .catch((error: unknown) => error);
    expect(isKeyhavenError(refused, 'credential_invalid')).toBe(true);
    expect((refused as Error).message).toMatch(/anthropic refused the credential/);
    expect(await keyhaven.vault.get({ userId: 'user-1', provider: 'anthropic' })).toMatchObject({
      connected: false,
    });
  });

  it('reports an unreachable provider as provider_unavailable, and stores unverified when asked not to validate', async () => {
    simulator.addFault({ provider: 'anthropic', status: 503, count: 1 });
    const unavailable = await keyhaven.vault
      .store({ userId: 'user-2', provider: 'anthropic', credentials: { apiKey: ANTHROPIC_SIMULATOR_KEY } })
      .catch((error: unknown) => error);
    expect(isKeyhavenError(unavailable, 'provider_unavailable')).toBe(true);
    const unverified = await keyhaven.vault.store({
      userId: 'user-2',
      provider: 'anthropic',
      credentials: { apiKey: ANTHROPIC_SIMULATOR_KEY },
      validate: false,
    });
    expect(unverified.status).toBe('unverified');
    expect((await keyhaven.vault.test({ userId: 'user-2', provider: 'anthropic' })).summary.status).toBe(
      'valid',
    );
  });

  it("calls the provider with the user's stored key, read from the vault at each request", async () => {
    const adapter = keyhaven.adapterFor('user-1', 'openai');
    const result = await adapter.text?.generate({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello there' }],
    });
    expect(result?.text.length).toBeGreaterThan(0);
    expect(result?.usage.outputTokens).toBeGreaterThan(0);
    const sent = simulator.requests.filter((request) => request.path === '/v1/chat/completions').at(-1);
    expect(sent?.headers.authorization).toBe(`Bearer ${OPENAI_SIMULATOR_KEY}`);
    const cost = keyhaven.prices.cost(
      'openai',
      'gpt-4o-mini',
      result?.usage ?? {
        inputTokens: 0,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        videoSeconds: 0,
        images: 0,
      },
    );
    expect(cost).toBeGreaterThan(0);
    await expect(keyhaven.adapterFor('user-without-keys', 'openai').validate()).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('refuses raw credentials that do not match the schema before any network call', () => {
    const before = simulator.requests.length;
    expect(() =>
      keyhaven.adapterFromCredentials('google-veo', { serviceAccount: '{"type":"nope"}' }),
    ).toThrow(/serviceAccount/);
    expect(() => keyhaven.adapterFromCredentials('openai', {})).toThrow(/apiKey/);
    expect(simulator.requests.length).toBe(before);
  });
});

describe('keyhaven simulate', () => {
  it('starts on the given port, prints the environment to use, and answers as the providers do', async () => {
    const { startCli } = await import('../support/cli.ts');
    const child = startCli(['simulate', '--port', '0', '--key', 'openai=sk-test-cli-key'], {});
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /KEYHAVEN_OPENAI_BASE_URL=(\S+)/.exec(output);
        if (match?.[1] && /Accepted keys:[\s\S]*mistral: .*\n/.test(output)) resolve(match[1]);
      });
      child.once('close', () => reject(new Error(`simulate exited: ${output}`)));
    });
    try {
      expect(output).toContain('openai: sk-test-openai-simulator, sk-test-cli-key');
      const models = await fetch(`${url}/models`, { headers: { authorization: 'Bearer sk-test-cli-key' } });
      expect(models.status).toBe(200);
      const refused = await fetch(`${url}/models`, { headers: { authorization: 'Bearer sk-test-wrong' } });
      expect(refused.status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    const bad = await runCli(['simulate', '--key', 'nonsense'], {});
    expect(bad.code).toBe(2);
  });
});
