import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectProvider } from '../../src/metrics/direct.js';
import { BadQueryError, NoValuesError, ProviderUnreachableError } from '../../src/metrics/errors.js';
import { PrometheusProvider } from '../../src/metrics/prometheus.js';
import type { ReleaseMetrics } from '../../src/metrics/provider.js';
import { startUpstream, type Upstream } from '../support/servers.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { type ReleaseRig, type Tally, startReleaseRig } from '../support/release.js';
import { eventually } from '../support/eventually.js';

/**
 * A real Prometheus scrapes two primary proxies and a canary proxy while real load passes through them to
 * a canary that fails every 5th request (20%) and takes 60 ms. Both providers must report what was sent.
 *
 * Tolerances: the direct provider diffs the very counters, so its counts are exact. Prometheus's
 * increase() extrapolates from the first and last scrape in the window to its edges, which inflates
 * counts by up to window / (window - 2 scrape intervals). It scales every series alike when all of them
 * exist before the window opens (the warm-up sees to that), so rates, means and quantiles, which are
 * ratios of counts, stay as they are.
 */
const target = { namespace: 'shop', deployment: 'podinfo' };
const FAIL_EVERY = 5;
const DELAY_MS = 60;
const QUANTILES = [0.5, 0.95];
const SCRAPE_INTERVAL_MS = 1_000;
/** Enough that every series (each proxy's 200s and 500s to the canary) exists before the window opens. */
const WARM_UP = 200;

let release: ReleaseRig;
let prometheus: RunningPrometheus;
let sent: Tally;
let direct: ReleaseMetrics;
let fromPrometheus: ReleaseMetrics;
let windowMs: number;
let countersOnly: Upstream;

/**
 * A target with request counters and no latency histogram, as a proxy built without one would be: its
 * requests are counted but a latency objective has nothing to read.
 */
function startCountersOnlyTarget(): Promise<Upstream> {
  let scrapes = 0;
  return startUpstream('counters-only', (req, res) => {
    req.resume();
    scrapes++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      'sluice_proxy_requests_total{namespace="shop",deployment="bare",role="primary",' +
        `destination="canary",code="200",method="GET"} ${scrapes * 10}\n`,
    );
  });
}

const SCRAPED_TOTAL = 'sum(sluice_proxy_requests_total{role="primary"})';

/** Waits until Prometheus has scraped every target `n` more times than it had when called. */
async function scrapesOfEveryTarget(n: number, what: string): Promise<void> {
  const scrapes = async () => (await prometheus.value('min(count_over_time(up[10m]))')) ?? 0;
  const start = await scrapes();
  await eventually(what, async () => (await scrapes()) >= start + n, { timeoutMs: 20_000 });
}

beforeAll(async () => {
  release = await startReleaseRig({ primaries: 2, weight: 30, failEvery: FAIL_EVERY, delayMs: DELAY_MS });
  countersOnly = await startCountersOnlyTarget();
  prometheus = await startPrometheus([
    ...release.metricsUrls().map((u) => new URL(u).host),
    `127.0.0.1:${countersOnly.port}`,
  ]);
  const directProvider = new DirectProvider({ discover: () => release.metricsUrls() });

  await release.load(WARM_UP);
  let warmTotal = 0;
  await eventually(
    'prometheus to scrape the warm-up',
    async () => (warmTotal = (await prometheus.value(SCRAPED_TOTAL)) ?? 0) >= WARM_UP,
    { timeoutMs: 20_000 },
  );
  const start = Date.now();
  await directProvider.scrape(target);
  // Prometheus's window holds only the scrapes after its start: let two of them see the counters before
  // the load, so that its first sample in the window is a baseline and not a guess.
  await scrapesOfEveryTarget(2, 'two scrapes before the load');

  sent = await release.load(600, 6);
  const expected = warmTotal + 600;
  await eventually(
    'prometheus to scrape the load',
    async () => ((await prometheus.value(SCRAPED_TOTAL)) ?? 0) >= expected,
    { timeoutMs: 20_000 },
  );
  await scrapesOfEveryTarget(1, 'one more scrape after the load');
  const at = Date.now();
  windowMs = at - start;
  const query = { target, windowMs, quantiles: QUANTILES, at };
  direct = await directProvider.measure(query);
  fromPrometheus = await new PrometheusProvider({ url: prometheus.url }).measure(query);
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await countersOnly?.close();
  await release?.close();
});

describe('the metrics providers against real proxies and a real Prometheus', () => {
  it('the direct provider counts exactly what was sent', () => {
    expect(sent.canary).toBeGreaterThan(100);
    expect(direct.canary.requests).toBe(sent.canary);
    expect(direct.primary.requests).toBe(sent.primary);
    expect(direct.canary.errorRate).toBeCloseTo((100 * sent.canaryFailed) / sent.canary, 6);
  });

  it('both report the canary failure rate that was sent', () => {
    for (const metrics of [direct, fromPrometheus]) {
      expect(metrics.canary.errorRate).toBeGreaterThan(100 / FAIL_EVERY - 3);
      expect(metrics.canary.errorRate).toBeLessThan(100 / FAIL_EVERY + 3);
      expect(metrics.primary.successRate).toBe(100);
    }
  });

  it('Prometheus counts requests within its extrapolation tolerance', () => {
    const most = windowMs / (windowMs - 2 * SCRAPE_INTERVAL_MS) + 0.02;
    for (const side of ['canary', 'primary'] as const) {
      const ratio = fromPrometheus[side].requests / sent[side];
      expect(ratio).toBeGreaterThanOrEqual(0.98);
      expect(ratio).toBeLessThanOrEqual(most);
    }
  });

  it('both report the latency the canary added', () => {
    for (const metrics of [direct, fromPrometheus]) {
      expect(metrics.canary.meanLatencyMs).toBeGreaterThanOrEqual(DELAY_MS);
      expect(metrics.canary.meanLatencyMs).toBeLessThan(DELAY_MS + 100);
      // 60 ms falls in the 50..100 ms bucket: interpolation places the median there.
      expect(metrics.canary.latencyQuantilesMs['0.5']).toBeGreaterThanOrEqual(50);
      expect(metrics.canary.latencyQuantilesMs['0.5']).toBeLessThanOrEqual(100);
      expect(metrics.primary.meanLatencyMs).toBeLessThan(DELAY_MS / 2);
    }
  });

  it('agree with each other', () => {
    expect(fromPrometheus.canary.errorRate).toBeCloseTo(direct.canary.errorRate ?? 0, 0);
    const ratio = (a: number | null, b: number | null) => (a ?? NaN) / (b ?? NaN);
    expect(ratio(fromPrometheus.canary.meanLatencyMs, direct.canary.meanLatencyMs)).toBeCloseTo(1, 1);
    for (const q of QUANTILES.map(String)) {
      const p = fromPrometheus.canary.latencyQuantilesMs[q] ?? null;
      expect(ratio(p, direct.canary.latencyQuantilesMs[q] ?? null)).toBeCloseTo(1, 1);
    }
  });

  it('Prometheus names a bad query and an unreachable server', async () => {
    const provider = new PrometheusProvider({ url: prometheus.url });
    await expect(provider.scalar('sum(', Date.now())).rejects.toThrow(BadQueryError);
    const gone = new PrometheusProvider({ url: 'http://127.0.0.1:1', timeoutMs: 1_000 });
    await expect(gone.measure({ target, windowMs: 60_000, quantiles: [], at: Date.now() })).rejects.toThrow(
      ProviderUnreachableError,
    );
  });

  it('Prometheus names missing latency series when there were requests', async () => {
    const provider = new PrometheusProvider({ url: prometheus.url });
    await expect(
      provider.measure({
        target: { namespace: 'shop', deployment: 'bare' },
        windowMs: 60_000,
        quantiles: [0.99],
        at: Date.now(),
      }),
    ).rejects.toThrow(NoValuesError);
  });

  it('Prometheus reports no requests, not an error, for a release without traffic', async () => {
    const provider = new PrometheusProvider({ url: prometheus.url });
    const metrics = await provider.measure({
      target: { namespace: 'shop', deployment: 'quiet' },
      windowMs: 60_000,
      quantiles: [0.99],
      at: Date.now(),
    });
    expect(metrics.canary).toEqual({
      requests: 0,
      successRate: null,
      errorRate: null,
      meanLatencyMs: null,
      latencyQuantilesMs: { '0.99': null },
    });
  });
});
