import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { browserTestsRun, launchChromium } from '../support/chromium.js';
import { useReleaseScenarios } from '../support/podinfo-release.js';
import type { ControllerRun } from '../support/sluice-on-cluster.js';
import { eventually } from '../support/eventually.js';

// The controller's dashboard on a real control plane, in headless Chromium: a real release runs (the
// webhook and the controller under their real identities, the data path on loopback), and the test reads
// what the rendered pages show, on the leader and on a standby replica.

const runs = browserTestsRun("the controller's dashboard test");
const dir = mkdtempSync(path.join(tmpdir(), 'sluice-dashboard-'));
let browser: BrowserContext | undefined;

afterAll(async () => {
  await browser?.close();
  // The screenshots stay, to be looked at; the browser profile goes.
  rmSync(path.join(dir, 'profile'), { recursive: true, force: true });
});

/** The index row of a release, as the page rendered it. */
async function row(page: Page, release: string): Promise<{ phase: string; weight: string; text: string }> {
  const tr = page.locator(`tr[data-release="${release}"]`);
  return {
    phase: (await tr.getAttribute('data-phase')) ?? '',
    weight: (await tr.getAttribute('data-weight')) ?? '',
    text: (await tr.textContent()) ?? '',
  };
}

describe.skipIf(!runs)("the controller's dashboard", () => {
  const scenario = useReleaseScenarios();
  const c = scenario.cluster;

  it('lists the release, and its page follows the phase and the weight to promotion, on every replica', async () => {
    const ns = 'dashboard';
    await scenario.setUp(ns);
    const leader = scenario.controller();
    let standby: ControllerRun | undefined;
    try {
      standby = await scenario.startReplica('standby');
      browser = await launchChromium(dir);
      const page = await browser.newPage();
      const elsewhere: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith(leader.dashboardUrl)) elsewhere.push(req.url());
      });

      await page.goto(`${leader.dashboardUrl}/`);
      await expect.poll(() => page.title()).toBe('sluice · releases');
      await expect
        .poll(async () => (await row(page, `${ns}/podinfo`)).phase, { timeout: 10_000 })
        .toBe('Initialized');
      expect(await page.locator('#replica').textContent()).toMatch(/\(leader\)$/);

      await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
      await expect
        .poll(async () => (await row(page, `${ns}/podinfo`)).phase, { timeout: 30_000 })
        .toBe('Progressing');

      // From the index to the release's own page, as a user clicks.
      await page.locator(`tr[data-release="${ns}/podinfo"] a`).click();
      await page.waitForURL(`${leader.dashboardUrl}/releases/${ns}/podinfo/`);
      await expect.poll(() => page.locator('#target').textContent()).toBe(`${ns}/podinfo`);

      const weights = new Set<number>();
      const phases = new Set<string>();
      // Every phase and weight the page shows on its way to the end is collected while waiting for it.
      await eventually(
        'the page to show the release succeeded',
        async () => {
          const phase = (await page.locator('body').getAttribute('data-phase')) ?? '';
          phases.add(phase);
          weights.add(Number(await page.locator('body').getAttribute('data-weight')));
          return phase === 'Succeeded';
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      // RELEASE_ANNOTATIONS step through 20 and 50; the page showed each as it happened.
      expect([...weights]).toEqual(expect.arrayContaining([20, 50]));
      expect([...phases]).toEqual(expect.arrayContaining(['Progressing', 'Succeeded']));
      await expect.poll(() => page.locator('#phase').textContent()).toBe('Succeeded · promoted');
      expect(await page.locator('#weight-chart .check-mark').count()).toBeGreaterThanOrEqual(2);
      expect(await page.locator('#last-check').textContent()).toMatch(/passed.*success rate/);
      expect(await page.locator('#events').textContent()).toContain('CheckPassed');
      // The requests the checks measured: all of them, none of the canary's failed.
      expect(await page.locator('#requests').textContent()).toMatch(/^[1-9]\d* \([1-9]\d* \/ 0\)$/);

      const shot = path.join(dir, 'dashboard-release.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(20_000);
      console.log(`dashboard screenshot: ${shot}`);

      // The index, back through the page's header link, shows the outcome.
      await page.locator('header h1 a').click();
      await page.waitForURL(`${leader.dashboardUrl}/`);
      await expect.poll(async () => (await row(page, `${ns}/podinfo`)).phase).toBe('Succeeded');
      expect((await row(page, `${ns}/podinfo`)).text).toMatch(/passed at \d+%.*stable [0-9a-f]{10}$/);
      await page.screenshot({ path: path.join(dir, 'dashboard-index.png'), fullPage: true });
      expect(elsewhere).toEqual([]);

      // A standby replica serves the same release from the Canary it watches, and says it is a standby.
      const standbyUrl = standby.dashboardUrl;
      await page.goto(`${standbyUrl}/`);
      await expect.poll(async () => (await row(page, `${ns}/podinfo`)).phase).toBe('Succeeded');
      expect(await page.locator('#replica').textContent()).toContain('standby (standby');
      await page.goto(`${standbyUrl}/releases/${ns}/podinfo/`);
      await expect.poll(() => page.locator('#phase').textContent()).toBe('Succeeded · promoted');
    } finally {
      await standby?.stop();
    }
  });
});
