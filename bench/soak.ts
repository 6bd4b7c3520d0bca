/**
 * npm run soak — a steady mixed load against a real server process for SOAK_SECONDS (default 600):
 * passthrough chats (OpenAI plain and streamed, Anthropic), credential reads, usage summaries and
 * credential rotations, from 4 concurrent clients, with upstream faults injected now and then (a 503 the
 * gateway retries away, a 429 that passes through). It samples the server's resident memory and V8 heap
 * (from /metrics) every 5 s and fails (exit 1) when memory at the end is more than 10% above memory
 * after the warm-up minute, or when any response was an error other than the injected 429s.
 * Results go to bench/results/soak.json. Runs on the embedded database unless DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { generateMasterKey } from '../src/crypto/index.ts';
import { simulatorEnvironment, simulatorKeys, startProviderSimulator } from '../src/simulator/index.ts';
import { startServiceProcess } from '../test/support/service-process.ts';

const seconds = Number(process.env.SOAK_SECONDS ?? 600);
const warmupSeconds = Math.min(60, Math.max(5, Math.round(seconds / 10)));
const clients = 4;
const adminToken = `kha_${randomBytes(32).toString('base64url')}`;
const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-soak-'));
const simulator = await startProviderSimulator({ port: 0 });
const service = await startServiceProcess({
  ...simulatorEnvironment(simulator),
  KEYHAVEN_DATA_DIR: dataDir,
  KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
  KEYHAVEN_ADMIN_TOKEN: adminToken,
  KEYHAVEN_RATE_LIMITS: JSON.stringify({
    openai: { perMinute: 1_000_000, perHour: 100_000_000 },
    anthropic: { perMinute: 1_000_000, perHour: 100_000_000 },
  }),
  ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
});
const agent = new Agent({ connections: clients * 2 });
const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };

async function call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, headers = admin) {
  const response = await request(`${service.url}${path}`, {
    method,
    headers,
    dispatcher: agent,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await response.body.text();
  return response.statusCode;
}

const users = ['soak-a', 'soak-b', 'soak-c', 'soak-d'];
for (const user of users) {
  for (const provider of ['openai', 'anthropic']) {
    const status = await call('PUT', `/v1/users/${user}/credentials/${provider}`, {
      credentials: { apiKey: simulatorKeys()[provider]?.[0] },
    });
    if (status !== 200) throw new Error(`storing ${provider} for ${user}: ${status}`);
  }
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say this is a test!' }] };
const message = { model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] };
const counts = new Map<string, number>();
let injected429 = 0;
const count = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);

async function step(user: string, turn: number): Promise<void> {
  const as = { ...admin, 'x-keyhaven-user': user };
  const pick = turn % 20;
  let kind: string;
  let status: number;
  if (pick < 10) [kind, status] = ['chat', await call('POST', '/v1/openai/chat/completions', chat, as)];
  else if (pick < 14)
    [kind, status] = [
      'stream',
      await call('POST', '/v1/openai/chat/completions', { ...chat, stream: true }, as),
    ];
  else if (pick < 16)
    [kind, status] = ['message', await call('POST', '/v1/anthropic/v1/messages', message, as)];
  else if (pick < 18) [kind, status] = ['credentials', await call('GET', `/v1/users/${user}/credentials`)];
  else if (pick < 19) [kind, status] = ['usage', await call('GET', `/v1/users/${user}/usage?groupBy=model`)];
  else
    [kind, status] = [
      'rotate',
      await call('PUT', `/v1/users/${user}/credentials/anthropic`, {
        credentials: { apiKey: simulatorKeys().anthropic?.[0] },
      }),
    ];
  count(`${kind} ${status}`);
}

interface Sample {
  atSeconds: number;
  rssBytes: number;
  heapUsedBytes: number;
}
const samples: Sample[] = [];
const started = Date.now();
async function sample(): Promise<void> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const metric = (name: string) =>
    Number(new RegExp(`^${name} (\\d+(\\.\\d+)?)`, 'm').exec(text)?.[1] ?? NaN);
  samples.push({
    atSeconds: Math.round((Date.now() - started) / 1000),
    rssBytes: metric('keyhaven_process_resident_memory_bytes'),
    heapUsedBytes: metric('keyhaven_nodejs_heap_size_used_bytes'),
  });
}

const deadline = started + seconds * 1000;
const sampler = setInterval(() => void sample(), 5000);
const faults = setInterval(() => {
  simulator.addFault({ provider: 'openai', status: 503, count: 1 });
  simulator.addFault({ provider: 'anthropic', status: 429, retryAfterSeconds: 1, count: 1 });
  injected429 += 1;
}, 15_000);
await Promise.all(
  users.slice(0, clients).map(async (user) => {
    for (let turn = 0; Date.now() < deadline; turn++) {
      try {
        await step(user, turn);
      } catch (error) {
        count(`network ${error instanceof Error ? error.message : 'error'}`);
      }
    }
  }),
);
clearInterval(sampler);
clearInterval(faults);
await sample();
await service.stop();
await simulator.close();
await agent.close();
rmSync(dataDir, { recursive: true, force: true });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const afterWarmup = samples.filter((entry) => entry.atSeconds >= warmupSeconds);
const baseline = median(afterWarmup.slice(0, 3).map((entry) => entry.rssBytes));
const end = median(afterWarmup.slice(-3).map((entry) => entry.rssBytes));
const heapBaseline = median(afterWarmup.slice(0, 3).map((entry) => entry.heapUsedBytes));
const heapEnd = median(afterWarmup.slice(-3).map((entry) => entry.heapUsedBytes));
const growth = end / baseline - 1;
const total = [...counts.values()].reduce((sum, value) => sum + value, 0);
// The injected Anthropic 429 reaches a passthrough message or the validation of a rotation.
const injectedKeys = new Set(['message 429', 'rotate 429']);
const errors = [...counts.entries()].filter(([key]) => !/ 2\d\d$/.test(key) && !injectedKeys.has(key));
const seen429 = (counts.get('message 429') ?? 0) + (counts.get('rotate 429') ?? 0);
const result = {
  seconds,
  requests: total,
  requestsPerSecond: Math.round(total / seconds),
  counts: Object.fromEntries(counts),
  injected429,
  rss: {
    afterWarmupMB: +(baseline / 1e6).toFixed(1),
    endMB: +(end / 1e6).toFixed(1),
    growth: +growth.toFixed(4),
  },
  heap: { afterWarmupMB: +(heapBaseline / 1e6).toFixed(1), endMB: +(heapEnd / 1e6).toFixed(1) },
  unexpectedErrors: Object.fromEntries(errors),
  samples,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/soak.json', `${JSON.stringify(result, null, 2)}\n`);
const { samples: _samples, ...summary } = result;
console.log(JSON.stringify(summary, null, 2));
const failures = [
  ...(growth >= 0.1 ? [`resident memory grew ${(growth * 100).toFixed(1)}% (limit 10%)`] : []),
  ...(errors.length ? [`unexpected errors: ${JSON.stringify(Object.fromEntries(errors))}`] : []),
  ...(seen429 > injected429 ? [`${seen429} 429s but only ${injected429} injected`] : []),
];
if (failures.length) {
  console.error(`soak failed: ${failures.join('; ')}`);
  process.exit(1);
}
console.log(`soak passed: ${total} requests over ${seconds} s, memory growth ${(growth * 100).toFixed(1)}%`);
