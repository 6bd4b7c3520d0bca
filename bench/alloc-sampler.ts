/**
 * Loaded into the server by `node bench/gateway.ts --alloc-prof` (`--import`): V8's sampling heap
 * profiler, counting objects that garbage collection has already freed too, so the profile shows what
 * a request allocates rather than what is still alive. The first SIGUSR2 starts it, the next stops it
 * and writes `alloc-<pid>-<n>.json` (the profile and the HTTP requests begun meanwhile) to
 * BENCH_ALLOC_PROF_DIR; `node bench/profile-summary.ts <file>` reads it in kilobytes per request.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

const directory = process.env.BENCH_ALLOC_PROF_DIR ?? '.';
const session = new Session();
session.connect();
let sampling = false;
let requests = 0;
let written = 0;
subscribe('http.server.request.start', () => {
  if (sampling) requests += 1;
});

process.on('SIGUSR2', () => {
  void toggle().catch((error: unknown) => console.error('alloc-sampler:', error));
});

async function toggle(): Promise<void> {
  if (!sampling) {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    requests = 0;
    sampling = true;
    return;
  }
  sampling = false;
  const { profile } = await session.post('HeapProfiler.stopSampling');
  written += 1;
  writeFileSync(
    join(directory, `alloc-${process.pid}-${written}.json`),
    JSON.stringify({ requests, profile }),
  );
}
