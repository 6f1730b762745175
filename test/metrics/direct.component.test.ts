import { afterEach, describe, expect, it } from 'vitest';
import { DirectProvider } from '../../src/metrics/direct.js';
import type { RunningProxy } from '../../proxy/proxy.js';
import { ProviderUnreachableError } from '../../src/metrics/errors.js';
import { cleanupAfterEach, metricsText, sampleValue } from '../support/servers.js';
import { type ReleaseRig, startReleaseRig } from '../support/release.js';
import { eventually } from '../support/eventually.js';

const { defer } = cleanupAfterEach(afterEach);
const target = { namespace: 'shop', deployment: 'podinfo' };

async function rig(): Promise<ReleaseRig> {
  const started = await startReleaseRig({ primaries: 2, weight: 40, failEvery: 5, delayMs: 30 });
  defer(() => started.close());
  return started;
}

describe('the direct provider', () => {
  it('reports the canary requests, failures and latency that real proxies saw in the window', async () => {
    const release = await rig();
    const provider = new DirectProvider({ discover: () => release.metricsUrls() });
    await release.load(20);
    const start = Date.now();
    await provider.scrape(target);

    const sent = await release.load(300);
    const at = Date.now();
    const metrics = await provider.measure({ target, windowMs: at - start, quantiles: [0.5, 0.99], at });

    expect(metrics.canary.requests).toBe(sent.canary);
    expect(metrics.canary.errorRate).toBeCloseTo((100 * sent.canaryFailed) / sent.canary, 6);
    expect(metrics.canary.meanLatencyMs).toBeGreaterThanOrEqual(30);
    expect(metrics.canary.latencyQuantilesMs['0.5']).toBeGreaterThanOrEqual(25);
    expect(metrics.primary).toMatchObject({ requests: sent.primary, successRate: 100 });
    expect(metrics.primary.meanLatencyMs).toBeLessThan(metrics.canary.meanLatencyMs ?? 0);
  });

  it('reads the canary from the copies the primaries sent it in the mirror phase', async () => {
    const release = await startReleaseRig({ primaries: 2, weight: 0, failEvery: 4, delayMs: 0, mirror: 100 });
    defer(() => release.close());
    const provider = new DirectProvider({ discover: () => release.metricsUrls() });
    const start = Date.now();
    await provider.scrape(target);

    const sent = await release.load(200);
    expect(sent).toMatchObject({ canary: 0, primary: 200 });
    const copies = async () => {
      const texts = await Promise.all(release.primaries.map(metricsText));
      return texts.reduce(
        (sum, text) => sum + sampleValue(text, 'sluice_proxy_requests_total', { destination: 'mirror' }),
        0,
      );
    };
    await eventually('every copy answered', async () => (await copies()) === 200, { timeoutMs: 5_000 });
    const at = Date.now();
    const query = { target, windowMs: at - start, quantiles: [0.5], at };
    const mirrored = await provider.measure({ ...query, canaryTraffic: 'mirrored' });
    expect(mirrored.canary).toMatchObject({ requests: 200, errorRate: 25 });
    expect(mirrored.primary).toMatchObject({ requests: 200, errorRate: 0 });
    const routed = await provider.measure(query);
    expect(routed.canary.requests).toBe(0);
  });

  it('keeps counting when a proxy leaves and a new one appears in the window', async () => {
    const release = await rig();
    const provider = new DirectProvider({ discover: () => release.metricsUrls() });
    await release.load(20);
    const start = Date.now();
    await provider.scrape(target);

    const before = await release.load(100);
    await provider.scrape(target);
    await release.removePrimary(release.primaries[0] as RunningProxy);
    await release.addPrimary();
    const after = await release.load(100);
    const at = Date.now();
    const metrics = await provider.measure({ target, windowMs: at - start, quantiles: [], at });

    expect(metrics.canary.requests).toBe(before.canary + after.canary);
    expect(metrics.primary.requests).toBe(before.primary + after.primary);
  });

  it('counts the traffic of the window, not since the proxies started', async () => {
    const release = await rig();
    let now = Date.now();
    const provider = new DirectProvider({ discover: () => release.metricsUrls(), now: () => now });
    await provider.scrape(target);
    await release.load(100);
    now += 60_000;
    await provider.scrape(target);
    const second = await release.load(50);
    now += 60_000;
    const metrics = await provider.measure({ target, windowMs: 60_000, quantiles: [], at: now });
    expect(metrics.canary.requests).toBe(second.canary);
  });

  it("starts each check's window at the scrape the previous check took", async () => {
    const release = await rig();
    const provider = new DirectProvider({ discover: () => release.metricsUrls() });
    const t0 = Date.now();
    await provider.scrape(target, t0);
    const first = await release.load(60);
    const one = await provider.measure({ target, windowMs: 60_000, quantiles: [], at: t0 + 60_000 });
    const second = await release.load(60);
    const two = await provider.measure({ target, windowMs: 60_000, quantiles: [], at: t0 + 120_000 });
    expect([one.primary.requests, two.primary.requests]).toEqual([first.primary, second.primary]);
  });

  it('measures from the proxies that answer when one does not', async () => {
    const release = await rig();
    const urls = () => [...release.metricsUrls(), 'http://127.0.0.1:1/metrics'];
    const provider = new DirectProvider({ discover: urls, timeoutMs: 1_000 });
    const start = Date.now();
    await provider.scrape(target, start);
    const sent = await release.load(100);
    const at = Date.now();
    const metrics = await provider.measure({ target, windowMs: at - start, quantiles: [], at });
    expect(metrics.canary.requests).toBe(sent.canary);
  });

  it('is unreachable when no proxy answers', async () => {
    const provider = new DirectProvider({ discover: () => ['http://127.0.0.1:1/metrics'], timeoutMs: 1_000 });
    await expect(
      provider.measure({ target, windowMs: 60_000, quantiles: [], at: Date.now() }),
    ).rejects.toThrow(ProviderUnreachableError);
  });
});
