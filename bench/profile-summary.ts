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
 * other does not.
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

function add(map: Map<string, number>, key: string, micros: number): void {
  map.set(key, (map.get(key) ?? 0) + micros);
}

function profileTimes(profile: Profile, afterSeconds: number): ProfileTimes {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  let elapsed = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    elapsed += delta;
    if (elapsed < afterSeconds * 1e6) return;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
  });
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const name = (frame: ProfileNode['callFrame']) =>
    `${frame.functionName || '(anonymous)'} ${place(frame.url)}:${frame.lineNumber + 1}`;
  const times: ProfileTimes = {
    total: 0,
    busy: 0,
    elapsed,
    selfByPlace: new Map(),
    busyByPlace: new Map(),
    selfByFunction: new Map(),
    inclusiveByFunction: new Map(),
  };
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    times.total += micros;
    add(times.selfByFunction, name(frame), micros);
    add(times.selfByPlace, place(frame.url), micros);
    if (frame.functionName === '(idle)') continue;
    times.busy += micros;
    add(times.busyByPlace, place(frame.url), micros);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const caller = byId.get(at)?.callFrame;
      if (!caller || caller.functionName === '(root)') continue;
      const callerName = name(caller);
      if (seen.has(callerName)) continue;
      seen.add(callerName);
      add(times.inclusiveByFunction, callerName, micros);
    }
  }
  return times;
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
  profile: Profile;
  afterSeconds: number;
  requests: number;
}

/**
 * Two profiles side by side in microseconds per request (idle left out), by package and by function,
 * the largest differences first.
 */
export function compareProfiles(one: ProfileSide, base: ProfileSide, top = 40): string {
  const a = profileTimes(one.profile, one.afterSeconds);
  const b = profileTimes(base.profile, base.afterSeconds);
  const idle = (name: string) => name.startsWith('(idle)');
  const table = (left: Map<string, number>, right: Map<string, number>) =>
    [...new Set([...left.keys(), ...right.keys()])]
      .filter((name) => !idle(name))
      .map((name) => {
        const x = (left.get(name) ?? 0) / one.requests;
        const y = (right.get(name) ?? 0) / base.requests;
        return { name, x, y };
      })
      .sort((p, q) => Math.abs(q.x - q.y) - Math.abs(p.x - p.y))
      .slice(0, top)
      .map(
        ({ name, x, y }) =>
          `${x.toFixed(1).padStart(7)} ${y.toFixed(1).padStart(7)} ${(x - y).toFixed(1).padStart(7)}  ${name}`,
      );
  const busy = (times: ProfileTimes, side: ProfileSide) => (times.busy / side.requests).toFixed(1);
  return [
    `busy per request: ${busy(a, one)} µs against ${busy(b, base)} µs (base)`,
    '',
    '   this    base    diff  (µs per request) self time by package:',
    ...table(a.busyByPlace, b.busyByPlace),
    '',
    '   this    base    diff  self time by function:',
    ...table(a.selfByFunction, b.selfByFunction),
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
      'usage: node bench/profile-summary.ts <file.cpuprofile> [--top 40] [--after s] [--requests n] [--base <file> --base-after s --base-requests n]',
    );
  }
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const top = Number(values.top);
  const afterSeconds = Number(values.after);
  const requests = values.requests === undefined ? undefined : Number(values.requests);
  if (values.base) {
    if (!requests || !values['base-requests']) throw new Error('--base needs --requests and --base-requests');
    console.log(
      compareProfiles(
        { profile: read(file), afterSeconds, requests },
        {
          profile: read(values.base),
          afterSeconds: Number(values['base-after']),
          requests: Number(values['base-requests']),
        },
        top,
      ),
    );
  } else {
    console.log(summarizeProfile(read(file), { top, afterSeconds, requests }));
  }
}
