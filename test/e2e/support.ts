import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { buildWeb } from '../../web/build.ts';

/**
 * Headless Chromium for the browser suites: Debian's /usr/bin/chromium driven by playwright-core (never a
 * downloaded browser), a fresh profile per run, console errors collected, screenshots in test-artifacts/.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const SKIP_REASON = `${CHROMIUM} is absent: browser tests skipped (apt-get install -y chromium to run them)`;
/** How long a test waits for the page to show something: the machine may be busy. */
export const POLL = { timeout: 10_000, interval: 50 };
export const ARTIFACTS = resolve(import.meta.dirname, '../../test-artifacts/e2e');

/** The web assets the server serves: built once if this checkout has none yet. */
export async function ensureWebBuild(): Promise<void> {
  await buildWeb({ ifMissing: true, log: () => {} });
}

export interface Browser {
  context: BrowserContext;
  /** A new page whose console errors and uncaught exceptions are recorded in `errors`. */
  page(): Promise<Page>;
  errors: string[];
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser({
  ignore = () => false,
}: {
  /** Console errors a test expects (a 422 for a refused key is logged by Chromium as a failed load). */
  ignore?: (message: ConsoleMessage) => boolean;
} = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'keyhaven-chromium-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  const errors: string[] = [];
  return {
    context,
    errors,
    async page() {
      const page = await context.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error' && !ignore(message)) {
          errors.push(`console: ${message.text()} (${message.location().url})`);
        }
      });
      page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
      return page;
    },
    async screenshot(page, name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns true (for state the server reaches a moment after the browser). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
