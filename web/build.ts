import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { build } from 'vite';

/**
 * Builds the browser code into static files the server serves (src/server/web-routes.ts):
 *   dist/web/keyhaven-keys.js   the <keyhaven-keys> web component, one ES module with no dependencies
 *   dist/web/dashboard/         the admin dashboard (React), served under /dashboard/
 * `node web/build.ts` (npm run build) always builds; `--if-missing` only when the output is absent
 * (npm start, the browser tests). Output goes to a temporary folder first and is then renamed into place,
 * so a server, or a second build running at the same time, never sees half a build.
 */
const WEB_DIR = import.meta.dirname;
export const WEB_OUT_DIR = resolve(WEB_DIR, '../dist/web');

export function webBuildPresent(outDir: string = WEB_OUT_DIR): boolean {
  return existsSync(join(outDir, 'keyhaven-keys.js')) && existsSync(join(outDir, 'dashboard', 'index.html'));
}

export async function buildWeb({
  outDir = WEB_OUT_DIR,
  ifMissing = false,
  log = (line: string) => process.stdout.write(`${line}\n`),
}: {
  outDir?: string;
  ifMissing?: boolean;
  log?: (line: string) => void;
} = {}): Promise<void> {
  if (ifMissing && webBuildPresent(outDir)) return;
  const started = performance.now();
  const staging = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(outDir), { recursive: true });
  try {
    await build({
      configFile: false,
      root: join(WEB_DIR, 'keyhaven-keys'),
      logLevel: 'warn',
      build: {
        outDir: staging,
        emptyOutDir: true,
        target: 'es2022',
        lib: {
          entry: join(WEB_DIR, 'keyhaven-keys', 'keyhaven-keys.ts'),
          formats: ['es'],
          fileName: () => 'keyhaven-keys.js',
        },
      },
    });
    await build({
      configFile: false,
      root: join(WEB_DIR, 'dashboard'),
      base: '/dashboard/',
      logLevel: 'warn',
      plugins: [react()],
      build: {
        outDir: join(staging, 'dashboard'),
        emptyOutDir: true,
        target: 'es2022',
        chunkSizeWarningLimit: 1024,
      },
    });
    if (ifMissing && webBuildPresent(outDir)) return;
    rmSync(outDir, { recursive: true, force: true });
    try {
      renameSync(staging, outDir);
    } catch (error) {
      // Another build finished first and put its output in place: that one is as good as ours.
      if (!webBuildPresent(outDir)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log(`web assets built into ${outDir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (import.meta.main) {
  await buildWeb({ ifMissing: process.argv.includes('--if-missing') });
}
