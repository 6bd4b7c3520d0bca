/**
 * npm run bench:gateway — OpenAI chat completions through the passthrough gateway against the same calls
 * sent to the provider simulator directly (the baseline, measured in the same run, interleaved in rounds
 * so that noise from other processes falls on both alike): requests per second and the latency Keyhaven
 * adds at the median and p99, plain and streamed, at 1 and 16 connections.
 * The simulator (no injected latency) and `keyhaven serve` each run in their own process, as deployed; the
 * load generator runs here, on an undici Agent with one pooled connection per concurrent client.
 * Usage: node bench/gateway.ts [--quick] [--postgres postgres://...] [--redis redis://...] [--seconds 10] [--rounds 5] [--warmup 30]
 *   [--log-level info] [--cpu-prof] [--alloc-prof]
 *   [--only 'plain, 16'] [--reference] [--against ../other-checkout] [--server-env NAME=value ...]
 *   [--node-flag --trace-gc ...]
 * --reference measures bench/reference-proxy.ts (a bare Fastify + undici proxy) in Keyhaven's place.
 * --against also runs `keyhaven serve` from another checkout (a change's base, say) in the same rounds,
 * and reports this checkout's CPU per request against it: a change measured beside its base.
 * (BENCH_QUICK=1 is --quick. Without --postgres the server uses the embedded database in a temp folder.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Agent } from 'undici';
import { generateMasterKey } from '../src/crypto/index.ts';
import { simulatorKeys } from '../src/simulator/index.ts';
import { type BenchRow, formatNumber, writeResults } from './results.ts';

const CLI = resolve(import.meta.dirname, '../src/cli/main.ts');
const REFERENCE_PROXY = resolve(import.meta.dirname, 'reference-proxy.ts');
const ALLOC_SAMPLER = resolve(import.meta.dirname, 'alloc-sampler.ts');
const PROFILES = resolve(import.meta.dirname, 'results/profiles');
const MODEL = 'gpt-4o-mini';
const PLAIN_BODY = JSON.stringify({
  model: MODEL,
  messages: [{ role: 'user', content: 'Say hello to the benchmark' }],
  max_tokens: 12,
});
// What the official SDK sends for stream: true (no stream_options: the gateway asks for usage itself).
const STREAM_BODY = JSON.stringify({
  model: MODEL,
  messages: [{ role: 'user', content: 'Say hello to the benchmark' }],
  max_tokens: 12,
  stream: true,
});

export interface GatewayBenchOptions {
  quick?: boolean;
  /** Run the server on PostgreSQL (its own schema, dropped at the end) instead of the embedded database. */
  postgresUrl?: string | undefined;
  /** Rate limits in Redis (REDIS_URL), as a scaled-out deployment keeps them. */
  redisUrl?: string | undefined;
  /** Seconds of measurement per scenario and target (split over the rounds). */
  seconds?: number;
  /** Rounds the measurement is split into (default 5; quick: 2). */
  rounds?: number;
  /**
   * Seconds of load per scenario and target before the rounds (default 30; quick: 0.4). A fresh Node
   * process needs 10-30 s of steady load before V8's young generation has grown and its collections
   * stop keeping most of what they copy; until then they pause the server for 10-35 ms each, and the
   * figures measure that warm-up rather than a running server.
   */
  warmupSeconds?: number;
  /** The server's LOG_LEVEL; default: the server's own default. */
  logLevel?: string | undefined;
  /** Extra environment for the server (profiling flags, for example). */
  serverEnv?: Record<string, string>;
  /** Node flags for the server process (--cpu-prof, for example). */
  serverNodeFlags?: readonly string[];
  /** Measures bench/reference-proxy.ts (a bare Fastify + undici proxy) in Keyhaven's place: the floor. */
  reference?: boolean;
  /**
   * Another checkout whose `keyhaven serve` is measured in the same rounds (a third target, same options):
   * an A/B of two versions without the hour-to-hour drift of the machine between two runs.
   */
  against?: string | undefined;
  /**
   * Samples the servers' allocations over each scenario's rounds (bench/alloc-sampler.ts), written to
   * bench/results/profiles/alloc-<pid>-<n>.json for bench/profile-summary.ts.
   */
  allocProf?: boolean;
  /** Runs only the scenarios whose name contains this text ("plain, 16", say): for profiling one path. */
  only?: string | undefined;
  progress?: (line: string) => void;
}

interface Sample {
  requests: number;
  seconds: number;
  latencies: number[];
  /** CPU time the serving process used meanwhile (Linux), in ms. */
  cpuMs: number | undefined;
}

/**
 * User + system CPU time of a process so far, in ms, from /proc (Linux; undefined elsewhere). Unlike
 * requests per second, CPU time per request hardly moves when other processes compete for the cores.
 */
function cpuTimeMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3): indexes 11 and 12.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS_PER_SECOND = 100;

interface Target {
  name: 'direct' | 'keyhaven' | 'against';
  /** The process that serves this target (its CPU time is measured). */
  pid: number | undefined;
  origin: string;
  path: string;
  headers: Record<string, string>;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs / 1000} s`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveExit) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolveExit();
    });
    child.kill('SIGTERM');
  });
}

/** The simulator in its own process; its printed environment says where each provider lives. */
async function startSimulatorProcess(): Promise<{ child: ChildProcess; env: Record<string, string> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'simulate', '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: tmpdir(),
  });
  const env: Record<string, string> = {};
  let text = '';
  await new Promise<void>((resolveStart, reject) => {
    child.once('exit', (code) => reject(new Error(`the simulator exited (${code}) before it started`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('Accepted keys:')) resolveStart();
    });
  });
  child.removeAllListeners('exit');
  for (const match of text.matchAll(/^\s+(KEYHAVEN_[A-Z0-9_]+)=(\S+)$/gm)) {
    if (match[1] && match[2]) env[match[1]] = match[2];
  }
  if (!env.KEYHAVEN_OPENAI_BASE_URL) throw new Error('the simulator did not print an OpenAI base URL');
  return { child, env };
}

interface ServerProcess {
  child: ChildProcess;
  url: string;
  adminToken: string;
  logFile: string;
  close(): Promise<void>;
}

/** `keyhaven serve` in its own process: a temp data dir, or its own PostgreSQL schema. */
async function startServerProcess(
  simulatorEnv: Record<string, string>,
  options: GatewayBenchOptions,
  cli = CLI,
): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyhaven-bench-'));
  const logFile = join(dataDir, 'server.log');
  const port = await freePort();
  const adminToken = randomBytes(32).toString('base64url');
  const schema = options.postgresUrl ? `kh_bench_${randomBytes(4).toString('hex')}` : undefined;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    ...simulatorEnv,
    KEYHAVEN_DATA_DIR: dataDir,
    KEYHAVEN_MASTER_KEYS: `v1:${generateMasterKey()}`,
    KEYHAVEN_ADMIN_TOKEN: adminToken,
    KEYHAVEN_RATE_LIMITS: JSON.stringify({ openai: { perMinute: 100_000_000, perHour: 100_000_000 } }),
    PORT: String(port),
    HOST: '127.0.0.1',
    ...(options.logLevel ? { LOG_LEVEL: options.logLevel } : {}),
    ...(options.postgresUrl && schema
      ? { DATABASE_URL: options.postgresUrl, KEYHAVEN_DATABASE_SCHEMA: schema }
      : {}),
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...(options.allocProf ? { BENCH_ALLOC_PROF_DIR: PROFILES } : {}),
    ...options.serverEnv,
  };
  if (options.allocProf) mkdirSync(PROFILES, { recursive: true });
  // Logs go to a file, as a deployed server's stdout would: written for real, read by nobody here.
  const log = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    [
      ...(options.serverNodeFlags ?? []),
      ...(options.allocProf ? [`--import=${ALLOC_SAMPLER}`] : []),
      ...(options.reference ? [REFERENCE_PROXY] : [cli, 'serve']),
    ],
    {
      stdio: ['ignore', log, 'inherit'],
      cwd: dataDir, // no .env from the checkout
      env,
    },
  );
  closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the server exited (${code}); see ${logFile}`))),
  );
  exited.catch(() => {});
  await Promise.race([
    exited,
    waitFor(async () => (await fetch(`${url}/health`)).ok, 'the Keyhaven server', 60_000),
  ]);
  return {
    child,
    url,
    adminToken,
    logFile,
    async close() {
      await stop(child);
      rmSync(dataDir, { recursive: true, force: true });
      if (options.postgresUrl && schema) {
        const client = new pg.Client({ connectionString: options.postgresUrl });
        await client.connect();
        await client.query(`drop schema if exists ${schema} cascade`);
        await client.end();
      }
    },
  };
}

const allocationToggles = new Map<number, number>();

/**
 * Starts or stops bench/alloc-sampler.ts in each server (SIGUSR2); returns the files that stopping writes.
 */
function toggleAllocationSampling(servers: readonly Target[]): string[] {
  return servers.flatMap((server) => {
    if (server.pid === undefined) return [];
    const toggles = (allocationToggles.get(server.pid) ?? 0) + 1;
    allocationToggles.set(server.pid, toggles);
    process.kill(server.pid, 'SIGUSR2');
    return toggles % 2 === 0 ? [join(PROFILES, `alloc-${server.pid}-${toggles / 2}.json`)] : [];
  });
}

/** A user with the simulator's OpenAI key stored (validated against the simulator) and a user token. */
async function seedUser(server: ServerProcess): Promise<string> {
  const admin = { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' };
  const key = simulatorKeys().openai?.[0];
  if (!key) throw new Error('the simulator has no OpenAI key');
  const stored = await fetch(`${server.url}/v1/users/bench-user/credentials/openai`, {
    method: 'PUT',
    headers: admin,
    body: JSON.stringify({ credentials: { apiKey: key } }),
  });
  if (!stored.ok) throw new Error(`storing the credential: ${stored.status} ${await stored.text()}`);
  const minted = await fetch(`${server.url}/v1/users/bench-user/tokens`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ ttlSeconds: 24 * 3600 }),
  });
  if (!minted.ok) throw new Error(`minting a token: ${minted.status} ${await minted.text()}`);
  return ((await minted.json()) as { token: string }).token;
}

/**
 * A closed loop of `connections` clients, each sending its next request when the last response has been
 * read to the end, for `durationMs`. Latency is first byte sent to last byte read.
 */
async function load(
  target: Target,
  body: string,
  connections: number,
  durationMs: number,
  check: (text: string) => boolean,
): Promise<Sample> {
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  const cpuBefore = cpuTimeMs(target.pid);
  const started = performance.now();
  const end = started + durationMs;
  let failures = 0;
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          const sent = performance.now();
          const response = await agent.request({
            origin: target.origin,
            path: target.path,
            method: 'POST',
            headers: target.headers,
            body,
          });
          const text = await response.body.text();
          latencies.push(performance.now() - sent);
          if (response.statusCode !== 200 || !check(text)) {
            failures += 1;
            if (failures === 1)
              process.stderr.write(`${target.name}: HTTP ${response.statusCode} ${text.slice(0, 300)}\n`);
          }
        }
      }),
    );
  } finally {
    await agent.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = cpuTimeMs(target.pid);
  const cpuMs = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
  if (failures > 0) throw new Error(`${target.name}: ${failures} of ${latencies.length} requests failed`);
  return { requests: latencies.length, seconds, latencies, cpuMs };
}

function merge(samples: readonly Sample[]): Sample {
  return {
    requests: samples.reduce((sum, sample) => sum + sample.requests, 0),
    seconds: samples.reduce((sum, sample) => sum + sample.seconds, 0),
    latencies: samples.flatMap((sample) => sample.latencies),
    cpuMs: samples.every((sample) => sample.cpuMs !== undefined)
      ? samples.reduce((sum, sample) => sum + (sample.cpuMs ?? 0), 0)
      : undefined,
  };
}

function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

export interface GatewayScenarioResult {
  scenario: string;
  connections: number;
  stream: boolean;
  direct: TargetSummary;
  keyhaven: TargetSummary;
  /** Keyhaven's rate as a share of the direct rate: the median of the rounds' ratios. */
  throughputRatio: number;
  /** The median over the rounds of (Keyhaven's median latency - the direct median latency). */
  addedMedianMs: number;
  /** p99 of every Keyhaven request - p99 of every direct request. */
  addedP99Ms: number;
  rounds: number;
  against?: AgainstSummary;
}

interface TargetSummary {
  requestsPerSecond: number;
  medianMs: number;
  p99Ms: number;
  requests: number;
  /** CPU time of the serving process (Keyhaven, or the simulator for direct) per request, in µs. */
  cpuMicrosPerRequest: number | undefined;
}

/** With --against: the other checkout's server, and this one's figures as ratios to it. */
export interface AgainstSummary {
  checkout: string;
  server: TargetSummary;
  throughputRatio: number;
  addedMedianMs: number;
  /** This checkout's CPU per request / the other's, median of the rounds (below 1: this one is cheaper). */
  cpuRatio: number | undefined;
}

function summarize(sample: Sample): TargetSummary {
  const sorted = [...sample.latencies].sort((a, b) => a - b);
  return {
    requestsPerSecond: sample.requests / sample.seconds,
    medianMs: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    requests: sample.requests,
    cpuMicrosPerRequest: sample.cpuMs === undefined ? undefined : (sample.cpuMs * 1000) / sample.requests,
  };
}

export async function benchGateway(options: GatewayBenchOptions = {}): Promise<{
  scenarios: GatewayScenarioResult[];
  rows: BenchRow[];
  logBytes: number;
}> {
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const quick = options.quick ?? false;
  const seconds = options.seconds ?? (quick ? 1.2 : 10);
  const rounds = options.rounds ?? (quick ? 2 : 5);
  const warmupMs = (options.warmupSeconds ?? (quick ? 0.4 : 30)) * 1000;
  const simulator = await startSimulatorProcess();
  let server: ServerProcess | undefined;
  let other: ServerProcess | undefined;
  const scenarios: GatewayScenarioResult[] = [];
  let logBytes = 0;
  try {
    const spawned = performance.now();
    server = await startServerProcess(simulator.env, options);
    const token = await seedUser(server);
    const simulatorBase = new URL(simulator.env.KEYHAVEN_OPENAI_BASE_URL ?? '');
    const key = simulatorKeys().openai?.[0] ?? '';
    const targets: Target[] = [
      {
        name: 'direct',
        pid: simulator.child.pid,
        origin: simulatorBase.origin,
        path: `${simulatorBase.pathname.replace(/\/$/, '')}/chat/completions`,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      },
      {
        name: 'keyhaven',
        pid: server.child.pid,
        origin: server.url,
        path: '/v1/openai/chat/completions',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
    ];
    if (options.against) {
      other = await startServerProcess(simulator.env, options, resolve(options.against, 'src/cli/main.ts'));
      targets.push({
        name: 'against',
        pid: other.child.pid,
        origin: other.url,
        path: '/v1/openai/chat/completions',
        headers: { authorization: `Bearer ${await seedUser(other)}`, 'content-type': 'application/json' },
      });
    }
    progress(
      `load begins ${((performance.now() - spawned) / 1000).toFixed(1)} s after the server was spawned`,
    );
    const plainCheck = (text: string) => text.includes('"usage"');
    // The client did not ask for the usage chunk, so it must not see one; the stream must end properly.
    const streamCheck = (text: string) => text.includes('data: [DONE]') && !text.includes('"usage"');

    for (const stream of [false, true]) {
      for (const connections of [1, 16]) {
        const body = stream ? STREAM_BODY : PLAIN_BODY;
        const check = stream ? streamCheck : plainCheck;
        const name = `chat completions, ${stream ? 'streamed' : 'plain'}, ${connections} connection${connections > 1 ? 's' : ''}`;
        if (options.only !== undefined && !name.includes(options.only)) continue;
        // Warm up every path: connections, JIT, the credential cache, the young generation's size; in
        // slices of at most 2 s taken in turn, so that no server sits idle long enough (8 s) for V8's
        // memory reducer to start its young generation over.
        const slices = Math.max(1, Math.ceil(warmupMs / 2000));
        for (let slice = 0; slice < slices; slice += 1) {
          for (const target of targets) await load(target, body, connections, warmupMs / slices, check);
        }
        // A profile's figures for the rounds alone: profile-summary --after <this> --requests <count>.
        progress(
          `${name}: rounds begin ${((performance.now() - spawned) / 1000).toFixed(1)} s after the server was spawned`,
        );
        const samples: Record<Target['name'], Sample[]> = { direct: [], keyhaven: [], against: [] };
        const servers = targets.filter((target) => target.name !== 'direct');
        if (options.allocProf) toggleAllocationSampling(servers);
        for (let round = 0; round < rounds; round += 1) {
          // With a third target, the two servers swap places every round: neither always follows direct.
          const order =
            round % 2 === 1 && targets.length === 3 ? [targets[0], targets[2], targets[1]] : targets;
          for (const target of order) {
            if (!target) continue;
            samples[target.name].push(
              await load(target, body, connections, (seconds * 1000) / rounds, check),
            );
          }
        }
        if (options.allocProf) {
          const files = toggleAllocationSampling(servers);
          await waitFor(
            async () => files.every((file) => existsSync(file)),
            'the allocation profiles',
            30_000,
          );
          progress(`${name}: allocation profiles ${files.join(', ')}`);
        }
        // Other processes on the machine come and go: each round compares the two paths measured
        // back to back, and the median round is reported.
        const perRound = samples.direct.map((directRound, index) => {
          const keyhavenRound = samples.keyhaven[index];
          if (!keyhavenRound) throw new Error('a round without its Keyhaven sample');
          const direct = summarize(directRound);
          const keyhaven = summarize(keyhavenRound);
          const againstRound = samples.against[index];
          const against = againstRound ? summarize(againstRound) : undefined;
          return {
            ratio: keyhaven.requestsPerSecond / direct.requestsPerSecond,
            addedMedian: keyhaven.medianMs - direct.medianMs,
            againstRatio: against ? against.requestsPerSecond / direct.requestsPerSecond : Number.NaN,
            againstAddedMedian: against ? against.medianMs - direct.medianMs : Number.NaN,
            cpuRatio:
              against?.cpuMicrosPerRequest && keyhaven.cpuMicrosPerRequest !== undefined
                ? keyhaven.cpuMicrosPerRequest / against.cpuMicrosPerRequest
                : Number.NaN,
          };
        });
        const direct = summarize(merge(samples.direct));
        const keyhaven = summarize(merge(samples.keyhaven));
        const result: GatewayScenarioResult = {
          scenario: name,
          connections,
          stream,
          direct,
          keyhaven,
          throughputRatio: median(perRound.map((round) => round.ratio)),
          addedMedianMs: median(perRound.map((round) => round.addedMedian)),
          addedP99Ms: keyhaven.p99Ms - direct.p99Ms,
          rounds,
        };
        if (options.against) {
          const cpuRatio = median(perRound.map((round) => round.cpuRatio));
          result.against = {
            checkout: options.against,
            server: summarize(merge(samples.against)),
            throughputRatio: median(perRound.map((round) => round.againstRatio)),
            addedMedianMs: median(perRound.map((round) => round.againstAddedMedian)),
            cpuRatio: Number.isNaN(cpuRatio) ? undefined : cpuRatio,
          };
        }
        scenarios.push(result);
        progress(
          `${name}: ${options.reference ? 'reference proxy' : 'keyhaven'} ${formatNumber(keyhaven.requestsPerSecond)} req/s, direct ${formatNumber(direct.requestsPerSecond)} req/s (${(result.throughputRatio * 100).toFixed(0)}%), added median ${result.addedMedianMs.toFixed(3)} ms, p99 ${result.addedP99Ms.toFixed(3)} ms, server CPU ${keyhaven.cpuMicrosPerRequest?.toFixed(0) ?? '?'} µs/request (simulator ${direct.cpuMicrosPerRequest?.toFixed(0) ?? '?'})`,
        );
        if (result.against) {
          const { server: base, cpuRatio } = result.against;
          progress(
            `${name}: against ${options.against}: ${formatNumber(base.requestsPerSecond)} req/s (${(result.against.throughputRatio * 100).toFixed(0)}%), added median ${result.against.addedMedianMs.toFixed(3)} ms, p99 ${(base.p99Ms - direct.p99Ms).toFixed(3)} ms, server CPU ${base.cpuMicrosPerRequest?.toFixed(0) ?? '?'} µs/request; this checkout's CPU per request ${cpuRatio === undefined ? '?' : `${cpuRatio.toFixed(3)}x`} its own (median of rounds)`,
          );
        }
      }
    }
    logBytes = readFileSync(server.logFile).length;
    // The server's output (log lines, and --trace-gc lines from --node-flag) stays for reading afterwards.
    mkdirSync(resolve('bench/results'), { recursive: true });
    copyFileSync(server.logFile, resolve('bench/results/gateway-server.log'));
  } finally {
    if (server) await server.close();
    if (other) await other.close();
    await stop(simulator.child);
  }
  const database = options.reference
    ? 'none (reference proxy)'
    : `${options.postgresUrl ? 'postgres' : 'pglite'}${options.redisUrl ? ' + redis' : ''}`;
  const rows: BenchRow[] = scenarios.flatMap((result) => [
    {
      group: 'gateway',
      benchmark: `${result.scenario}: throughput`,
      database,
      value: result.keyhaven.requestsPerSecond,
      unit: 'req/s',
      baseline: result.direct.requestsPerSecond,
      baselineName: 'simulator called directly',
      ratio: result.throughputRatio,
      ratioName: 'keyhaven / direct, median of rounds',
      note: `${result.keyhaven.requests.toLocaleString('en-US')} requests through Keyhaven, ${result.rounds} rounds after a ${warmupMs / 1000} s warm-up`,
    },
    {
      group: 'gateway',
      benchmark: `${result.scenario}: latency added, median`,
      database,
      value: result.addedMedianMs,
      unit: 'ms',
      note: `median of rounds; overall medians: keyhaven ${result.keyhaven.medianMs.toFixed(3)} ms, direct ${result.direct.medianMs.toFixed(3)} ms`,
    },
    {
      group: 'gateway',
      benchmark: `${result.scenario}: latency added, p99`,
      database,
      value: result.addedP99Ms,
      unit: 'ms',
      note: `keyhaven ${result.keyhaven.p99Ms.toFixed(3)} ms, direct ${result.direct.p99Ms.toFixed(3)} ms`,
    },
    ...(result.keyhaven.cpuMicrosPerRequest === undefined
      ? []
      : [
          {
            group: 'gateway',
            benchmark: `${result.scenario}: Keyhaven server CPU per request`,
            database,
            value: result.keyhaven.cpuMicrosPerRequest,
            unit: 'µs',
            ...(result.direct.cpuMicrosPerRequest === undefined
              ? {}
              : {
                  baseline: result.direct.cpuMicrosPerRequest,
                  baselineName: 'simulator CPU per direct request, µs',
                }),
            note: 'user + system time of the server process / requests (steadier than rates on a busy machine)',
          },
        ]),
  ]);
  return { scenarios, rows, logBytes };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
      postgres: { type: 'string' },
      redis: { type: 'string' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      'log-level': { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      'alloc-prof': { type: 'boolean', default: false },
      only: { type: 'string' },
      reference: { type: 'boolean', default: false },
      against: { type: 'string' },
      'server-env': { type: 'string', multiple: true },
      'node-flag': { type: 'string', multiple: true },
    },
  });
  const serverEnv = Object.fromEntries(
    (values['server-env'] ?? []).map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new Error(`--server-env takes NAME=value, not ${pair}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  const nodeFlags = [
    ...(values['node-flag'] ?? []),
    ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`] : []),
  ];
  const result = await benchGateway({
    quick: values.quick,
    postgresUrl: values.postgres,
    redisUrl: values.redis,
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
    ...(values.warmup ? { warmupSeconds: Number(values.warmup) } : {}),
    logLevel: values['log-level'],
    only: values.only,
    reference: values.reference,
    against: values.against,
    allocProf: values['alloc-prof'],
    serverEnv,
    serverNodeFlags: nodeFlags,
  });
  writeResults(
    values.reference ? 'gateway-reference' : 'gateway',
    { scenarios: result.scenarios, serverLogBytes: result.logBytes },
    result.rows,
  );
}
