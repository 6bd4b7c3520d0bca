/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`, e.g. `node bench/gateway.ts --cpu-prof`) and prints where
 * the time went: the functions with the most self time, and self time per file or package, so a hot path
 * can be read without a browser.
 * Usage: node bench/profile-summary.ts <file.cpuprofile> [--top 40] [--after <seconds>]
 * (--after skips the process's first seconds; bench/gateway.ts --cpu-prof prints when its load began.)
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

/** `afterSeconds` skips the samples of the first seconds of the process (start-up, migrations). */
export function summarizeProfile(profile: Profile, { top = 40, afterSeconds = 0 } = {}): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  let elapsed = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    elapsed += delta;
    if (elapsed < afterSeconds * 1e6) return;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
  });
  const total = [...selfMicros.values()].reduce((sum, value) => sum + value, 0);
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const name = `${frame.functionName || '(anonymous)'} ${place(frame.url)}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    const where = place(frame.url);
    byPlace.set(where, (byPlace.get(where) ?? 0) + micros);
  }
  // Inclusive time: a sample counts for every function on its stack (once each, however deep the
  // recursion), as a share of the busy time (idle samples left out), so a caller's whole cost shows.
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const byStack = new Map<string, number>();
  let busy = 0;
  for (const [id, micros] of selfMicros) {
    if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
    busy += micros;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || frame.functionName === '(root)') continue;
      const name = `${frame.functionName || '(anonymous)'} ${place(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(name)) continue;
      seen.add(name);
      byStack.set(name, (byStack.get(name) ?? 0) + micros);
    }
  }
  const lines = (entries: Map<string, number>, of = total) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => `${((micros / of) * 100).toFixed(1).padStart(5)}%  ${name}`);
  return [
    `${(total / 1e6).toFixed(2)} s sampled after the first ${afterSeconds} s (of ${(elapsed / 1e6).toFixed(2)} s), ${(busy / 1e6).toFixed(2)} s of them busy`,
    '',
    'self time by file or package:',
    ...lines(byPlace),
    '',
    'self time by function:',
    ...lines(byFunction),
    '',
    'inclusive time by function, as a share of the busy time:',
    ...lines(byStack, busy),
  ].join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '40' }, after: { type: 'string', default: '0' } },
  });
  const file = positionals[0];
  if (!file) throw new Error('usage: node bench/profile-summary.ts <file.cpuprofile> [--top 40] [--after s]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  console.log(summarizeProfile(profile, { top: Number(values.top), afterSeconds: Number(values.after) }));
}
