/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`, e.g. `node bench/gateway.ts --cpu-prof`) and prints where
 * the time went: the functions with the most self time, and self time per file or package, so a hot path
 * can be read without a browser.
 * Usage: node bench/profile-summary.ts <file.cpuprofile> [--top 40] [--after <seconds>] [--requests <n>]
 *   [--base <other.cpuprofile> --base-after <seconds> --base-requests <n>]
 * --after skips the process's first seconds; bench/gateway.ts --cpu-prof prints when each scenario's
 * rounds begin and how many requests they served. --requests prints microseconds per request instead of
 * shares; with --base (a second profile, the reference proxy's, say) it prints both side by side, by
 * package and by function, the largest differences first: what one server does per request that the
 * other does not. An allocation profile (alloc-*.json from `bench/gateway.ts --alloc-prof`) is read as
 * kilobytes allocated per request, by package, by function and inclusive (--base works for two of them).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** V8's sampling heap profile (HeapProfiler.stopSampling), as bench/alloc-sampler.ts writes it. */
interface AllocationNode {
  id: number;
  callFrame: ProfileNode['callFrame'];
  children: AllocationNode[];
}

interface AllocationProfile {
  requests: number;
  profile: { head: AllocationNode; samples: { size: number; nodeId: number }[] };
}

/** node_modules/<package> or the path below the repository, for grouping. */
function place(url: string): string {
  if (url === '') return '(native / V8)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules?.[1]) return modules[1];
  if (url.startsWith('node:')) return url;
  const source = /\/((?:src|bench|test)\/.*)$/.exec(url);
  return source?.[1] ?? url;
}

/** Where a profile's time went, in microseconds, after its first `afterSeconds`. */
interface ProfileTimes {
  /** Sampled time, idle included. */
  total: number;
  /** Sampled time without the idle samples. */
  busy: number;
  elapsed: number;
  selfByPlace: Map<string, number>;
  /** selfByPlace without the idle samples. */
  busyByPlace: Map<string, number>;
  selfByFunction: Map<string, number>;
  /** A sample counts for every function on its stack (once each, however deep the recursion). */
  inclusiveByFunction: Map<string, number>;
}

function add<K>(map: Map<K, number>, key: K, amount: number): void {
  map.set(key, (map.get(key) ?? 0) + amount);
}

function frameName(frame: ProfileNode['callFrame']): string {
  return `${frame.functionName || '(anonymous)'} ${place(frame.url)}:${frame.lineNumber + 1}`;
}

function emptyTimes(elapsed: number): ProfileTimes {
  return {
    total: 0,
    busy: 0,
    elapsed,
    selfByPlace: new Map(),
    busyByPlace: new Map(),
    selfByFunction: new Map(),
    inclusiveByFunction: new Map(),
  };
}

/** Counts a sample's amount as the frame's own, by function and by place (and as busy unless idle). */
function countSelf(times: ProfileTimes, frame: ProfileNode['callFrame'], amount: number): boolean {
  times.total += amount;
  add(times.selfByFunction, frameName(frame), amount);
  add(times.selfByPlace, place(frame.url), amount);
  if (frame.functionName === '(idle)') return false;
  times.busy += amount;
  add(times.busyByPlace, place(frame.url), amount);
  return true;
}

function profileTimes(profile: Profile, afterSeconds: number): ProfileTimes {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  let elapsed = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    elapsed += delta;
    if (elapsed < afterSeconds * 1e6) return;
    add(selfMicros, id, delta);
  });
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const times = emptyTimes(elapsed);
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || !countSelf(times, frame, micros)) continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const caller = byId.get(at)?.callFrame;
      if (!caller || caller.functionName === '(root)') continue;
      const callerName = frameName(caller);
      if (seen.has(callerName)) continue;
      seen.add(callerName);
      add(times.inclusiveByFunction, callerName, micros);
    }
  }
  return times;
}

/** Bytes allocated, by the same groupings as CPU time (`busy` and `total` are all bytes). */
function allocationTimes({ profile }: AllocationProfile): ProfileTimes {
  const bytesAt = new Map<number, number>();
  for (const sample of profile.samples) add(bytesAt, sample.nodeId, sample.size);
  const times = emptyTimes(0);
  const walk = (node: AllocationNode, stack: readonly string[]) => {
    const here = [...stack, frameName(node.callFrame)];
    const bytes = bytesAt.get(node.id) ?? 0;
    if (bytes > 0 && countSelf(times, node.callFrame, bytes)) {
      for (const caller of new Set(here))
        if (!caller.startsWith('(root)')) add(times.inclusiveByFunction, caller, bytes);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, []);
  return times;
}

function isAllocationProfile(value: unknown): value is AllocationProfile {
  return typeof value === 'object' && value !== null && 'requests' in value && 'profile' in value;
}

/** Kilobytes allocated per request, by package, by function and inclusive. */
export function summarizeAllocations(allocations: AllocationProfile, top = 40): string {
  const times = allocationTimes(allocations);
  const per = (bytes: number) => (bytes / allocations.requests / 1024).toFixed(2).padStart(7);
  const lines = (entries: Map<string, number>) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => `${per(bytes)} KB  ${name}`);
  return [
    `${(times.total / 1e6).toFixed(1)} MB sampled over ${allocations.requests.toLocaleString('en-US')} requests: ${per(times.total).trim()} KB per request`,
    '',
    'allocated by file or package:',
    ...lines(times.selfByPlace),
    '',
    'allocated by function:',
    ...lines(times.selfByFunction),
    '',
    'allocated inclusive of callees:',
    ...lines(times.inclusiveByFunction),
  ].join('\n');
}

function header(times: ProfileTimes, afterSeconds: number): string {
  return `${(times.total / 1e6).toFixed(2)} s sampled after the first ${afterSeconds} s (of ${(times.elapsed / 1e6).toFixed(2)} s), ${(times.busy / 1e6).toFixed(2)} s of them busy`;
}

export interface SummaryOptions {
  top?: number;
  afterSeconds?: number;
  /** Requests served in the sampled time: figures in microseconds per request instead of shares. */
  requests?: number | undefined;
}

export function summarizeProfile(
  profile: Profile,
  { top = 40, afterSeconds = 0, requests }: SummaryOptions = {},
): string {
  const times = profileTimes(profile, afterSeconds);
  const lines = (entries: Map<string, number>, of: number) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) =>
        requests
          ? `${(micros / requests).toFixed(1).padStart(7)} µs  ${name}`
          : `${((micros / of) * 100).toFixed(1).padStart(5)}%  ${name}`,
      );
  return [
    header(times, afterSeconds) +
      (requests ? `, ${((times.busy / requests) | 0).toLocaleString('en-US')} µs busy per request` : ''),
    '',
    'self time by file or package:',
    ...lines(times.selfByPlace, times.total),
    '',
    'self time by function:',
    ...lines(times.selfByFunction, times.total),
    '',
    `inclusive time by function${requests ? '' : ', as a share of the busy time'}:`,
    ...lines(times.inclusiveByFunction, times.busy),
  ].join('\n');
}

export interface ProfileSide {
  times: ProfileTimes;
  requests: number;
}

/**
 * Two profiles side by side per request (CPU profiles in microseconds, idle left out; allocation
 * profiles in kilobytes), by package and by function, the largest differences first.
 */
export function compareProfiles(one: ProfileSide, base: ProfileSide, { top = 40, unit = 'µs' } = {}): string {
  const scale = unit === 'KB' ? 1 / 1024 : 1;
  const per = (micros: number, side: ProfileSide) => (micros * scale) / side.requests;
  const table = (left: Map<string, number>, right: Map<string, number>) =>
    [...new Set([...left.keys(), ...right.keys()])]
      .filter((name) => !name.startsWith('(idle)'))
      .map((name) => ({ name, x: per(left.get(name) ?? 0, one), y: per(right.get(name) ?? 0, base) }))
      .sort((p, q) => Math.abs(q.x - q.y) - Math.abs(p.x - p.y))
      .slice(0, top)
      .map(
        ({ name, x, y }) =>
          `${x.toFixed(1).padStart(7)} ${y.toFixed(1).padStart(7)} ${(x - y).toFixed(1).padStart(7)}  ${name}`,
      );
  return [
    `${unit === 'KB' ? 'allocated' : 'busy'} per request: ${per(one.times.busy, one).toFixed(1)} ${unit} against ${per(base.times.busy, base).toFixed(1)} ${unit} (base)`,
    '',
    `   this    base    diff  (${unit} per request) by package:`,
    ...table(one.times.busyByPlace, base.times.busyByPlace),
    '',
    '   this    base    diff  by function:',
    ...table(one.times.selfByFunction, base.times.selfByFunction),
  ].join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '40' },
      after: { type: 'string', default: '0' },
      requests: { type: 'string' },
      base: { type: 'string' },
      'base-after': { type: 'string', default: '0' },
      'base-requests': { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file) {
    throw new Error(
      'usage: node bench/profile-summary.ts <file.cpuprofile | alloc-*.json> [--top 40] [--after s] [--requests n] [--base <file> --base-after s --base-requests n]',
    );
  }
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Profile | AllocationProfile;
  const top = Number(values.top);
  const optional = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const side = (path: string, afterSeconds: number, requests: number | undefined): ProfileSide => {
    const profile = read(path);
    if (isAllocationProfile(profile)) return { times: allocationTimes(profile), requests: profile.requests };
    if (!requests) throw new Error('--base needs --requests and --base-requests for CPU profiles');
    return { times: profileTimes(profile, afterSeconds), requests };
  };
  const first = read(file);
  if (values.base) {
    const one = side(file, Number(values.after), optional(values.requests));
    const base = side(values.base, Number(values['base-after']), optional(values['base-requests']));
    console.log(compareProfiles(one, base, { top, unit: isAllocationProfile(first) ? 'KB' : 'µs' }));
  } else if (isAllocationProfile(first)) {
    console.log(summarizeAllocations(first, top));
  } else {
    console.log(
      summarizeProfile(first, {
        top,
        afterSeconds: Number(values.after),
        requests: optional(values.requests),
      }),
    );
  }
}
