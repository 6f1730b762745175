import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * Debian's Chromium, headless, for the tests that load sluice's pages in a real browser. It is installed by
 * .ci/run; on a machine without it those tests are skipped, with a line that says why (never in CI).
 */

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumPresent = existsSync(CHROMIUM);

/** Whether the browser tests run here; warns once per file when they are skipped. */
export function browserTestsRun(what: string): boolean {
  if (!chromiumPresent && process.env['CI'] === undefined) {
    console.warn(`skipping ${what}: ${CHROMIUM} is absent (apt-get install chromium; .ci/run does)`);
    return false;
  }
  return true;
}

/** A headless Chromium with a profile in `dir`, which loads nothing the page does not ask for. */
export function launchChromium(dir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(path.join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
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
  });
}
