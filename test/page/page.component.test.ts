import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { browserTestsRun, launchChromium } from '../support/chromium.js';
import { FAST, runDemo, STALL_TOLERANT, type DemoRun } from '../support/demo.js';
import { eventually } from '../support/eventually.js';

// The live page in a real headless Chromium (Debian's), following a whole release of `sluice demo`.

const runs = browserTestsRun('the live page test');

const dir = mkdtempSync(path.join(tmpdir(), 'sluice-page-'));
let browser: BrowserContext | undefined;
let run: DemoRun | undefined;

afterAll(async () => {
  await browser?.close();
  run?.stop();
  rmSync(path.join(dir, 'profile'), { recursive: true, force: true });
});

describe.skipIf(!runs)('the live page', () => {
  it('loads, follows the weight as the release advances, and reads well in a screenshot', async () => {
    run = runDemo([...FAST, '--scenario', 'good', ...STALL_TOLERANT, '--linger', '5s']);
    const [, url = ''] = await run.waitForLine(/^Live page: (\S+)/);
    browser = await launchChromium(dir);
    const page = await browser.newPage();
    const elsewhere: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(url)) elsewhere.push(req.url());
    });
    await page.goto(url);
    await expect.poll(() => page.title()).toBe('sluice · live release');

    const weights = new Set<number>();
    // Every weight the page shows on its way to the end is collected while waiting for that end.
    await eventually(
      'the page to show the release succeeded',
      async () => {
        weights.add(Number(await page.locator('body').getAttribute('data-weight')));
        return (await page.locator('body').getAttribute('data-phase')) === 'Succeeded';
      },
      { timeoutMs: 60_000, intervalMs: 150 },
    );
    expect([...weights].filter((w) => w > 0).length).toBeGreaterThanOrEqual(3);

    await expect.poll(() => page.locator('#phase').textContent()).toBe('Succeeded · promoted');
    expect(await page.locator('#weight-chart .check-mark').count()).toBeGreaterThanOrEqual(6);
    const line = (await page.locator('#weight-chart .weight-line').getAttribute('d')) ?? '';
    expect(line.split('L').length).toBeGreaterThan(10);
    expect(await page.locator('#last-check').textContent()).toMatch(/passed.*success rate/);
    expect(await page.locator('#latency-chart circle').count()).toBeGreaterThan(0);

    const shot = path.join(dir, 'live-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    console.log(`live page screenshot: ${shot}`);
    expect(elsewhere).toEqual([]);
    // Some 15 s on an idle machine; the bound is for a machine busy with other suites and Chromium.
  }, 90_000);
});
