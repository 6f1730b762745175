import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCanaryAnnotations, type CanaryConfig } from '../../src/annotations.js';
import { DirectProvider } from '../../src/metrics/direct.js';
import { PrometheusProvider } from '../../src/metrics/prometheus.js';
import type { MetricsProvider, ReleaseMetrics } from '../../src/metrics/provider.js';
import { runCheck, type Check } from '../../src/release/check.js';
import { withTemplateMetrics } from '../../src/release/custom-metrics.js';
import { quantilesOf } from '../../src/release/machine.js';
import { initialStatus } from '../../src/release/status.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { type ReleaseRig, startReleaseRig } from '../support/release.js';
import { eventually } from '../support/eventually.js';

/**
 * Metric templates and objectives relative to the primary against a real Prometheus scraping real proxies:
 * the canary (revision v2) fails every 4th request and takes 40 ms; the primary (v1) fails none. The
 * templates read each side's own proxy by its revision and role, as a user's template reads an app's
 * metrics by the labels its pods carry.
 */
const target = { namespace: 'shop', deployment: 'podinfo' };
const status = { ...initialStatus(0), candidateRevision: 'v2', stableRevision: 'v1' };
const own = (extra = '') =>
  `sluice_proxy_requests_total{namespace="{{ namespace }}",deployment="{{ deployment }}",` +
  `revision="{{ revision }}",role="{{ role }}",destination="local"${extra}}[{{ interval }}]`;
const TEMPLATES: Record<string, string> = {
  // A user's usual care for a series that is absent while nothing failed: `or vector(0)`.
  'server-errors': `100 * (sum(increase(${own(',code=~"5.."')})) or vector(0)) / sum(increase(${own()}))`,
  // The same without it: no data for the primary, whose requests all succeed.
  'server-errors-bare': `100 * sum(increase(${own(',code=~"5.."')})) / sum(increase(${own()}))`,
  served: `sum(increase(${own()}))`,
};

let release: ReleaseRig;
let prometheus: RunningPrometheus;
let provider: PrometheusProvider;
let at: number;
let windowMs: number;

function configOf(objectives: string): CanaryConfig {
  const parsed = parseCanaryAnnotations({
    'sluice.dev/canary': 'enabled',
    'sluice.dev/objectives': objectives,
    'sluice.dev/metric-templates': 'podinfo-metrics',
    'sluice.dev/interval': `${Math.round(windowMs / 1000)}s`,
    'sluice.dev/progress-deadline': '1h',
  });
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join('; '));
  return parsed.config;
}

async function check(objectives: string, from: MetricsProvider = provider): Promise<Check> {
  const config = configOf(objectives);
  const quantiles = quantilesOf(config);
  try {
    const measured: ReleaseMetrics = await from.measure({ target, windowMs, quantiles, at });
    const metrics = await withTemplateMetrics(measured, {
      provider: from,
      config,
      target,
      status,
      readConfigMap: (name) => Promise.resolve(name === 'podinfo-metrics' ? TEMPLATES : null),
      at,
    });
    return runCheck({ ok: true, metrics }, config.objectives, config.minRequests);
  } catch (err) {
    const { code, message } = err as { code: string; message: string };
    return runCheck({ ok: false, error: { code, message } }, config.objectives, config.minRequests);
  }
}

beforeAll(async () => {
  release = await startReleaseRig({ primaries: 2, weight: 40, failEvery: 4, delayMs: 40 });
  prometheus = await startPrometheus(release.metricsUrls().map((u) => new URL(u).host));
  provider = new PrometheusProvider({ url: prometheus.url });
  const start = Date.now();
  await release.load(100);
  await eventually(
    'prometheus to scrape the warm-up',
    async () => ((await prometheus.value('sum(sluice_proxy_requests_total{role="primary"})')) ?? 0) >= 100,
    { timeoutMs: 20_000 },
  );
  const sent = await release.load(400, 6);
  const total = 500;
  await eventually(
    'prometheus to scrape the load',
    async () => ((await prometheus.value('sum(sluice_proxy_requests_total{role="primary"})')) ?? 0) >= total,
    { timeoutMs: 20_000 },
  );
  expect(sent.canary).toBeGreaterThan(100);
  at = Date.now();
  windowMs = Math.max(10_000, at - start + 2_000);
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  await release?.close();
});

describe('metric templates and relative objectives with a real Prometheus', () => {
  it('renders a template per side and reads each side its own numbers', async () => {
    const result = await check('server-errors<=100');
    expect(result.result).toBe('passed');
    const canary = result.canary?.custom?.['server-errors'] ?? NaN;
    expect(canary).toBeGreaterThan(25 - 8);
    expect(canary).toBeLessThan(25 + 8);
    expect(result.primary?.custom?.['server-errors']).toBe(0);
  });

  it('fails a template objective relative to a healthy primary', async () => {
    const result = await check('server-errors<=primary*1.5+1');
    expect(result.result).toBe('failed');
    expect(result.summary).toMatch(/^server-errors \d+(\.\d+)? > 1 \(primary 0 × 1\.5 \+ 1\)$/);
  });

  it('passes and fails built-in objectives relative to the primary', async () => {
    expect((await check('error-rate<=primary+40%')).result).toBe('passed');
    const slower = await check('mean-latency<=primary*1.5');
    expect(slower.result).toBe('failed');
    expect(slower.objectives[0]?.primary).toBeLessThan(20);
    expect(slower.objectives[0]?.value).toBeGreaterThanOrEqual(40);
  });

  it('fails the check naming the template when its query has no data', async () => {
    const result = await check('server-errors-bare<=primary*2');
    expect(result.result).toBe('failed');
    expect(result.error?.code).toBe('NoValues');
    expect(result.summary).toContain(
      'metric template server-errors-bare (key server-errors-bare of ConfigMap shop/podinfo-metrics) returned no data for the primary',
    );
  });

  it('fails the check naming the ConfigMap key that is missing', async () => {
    const result = await check('queue-depth<10');
    expect(result.result).toBe('failed');
    expect(result.summary).toContain('ConfigMap shop/podinfo-metrics has no key queue-depth');
  });

  it('fails the check, saying to use prometheus, when the provider reads the proxies directly', async () => {
    const direct = new DirectProvider({ discover: () => release.metricsUrls() });
    await direct.scrape(target, at - windowMs);
    const result = await check('served>0', direct);
    expect(result.result).toBe('failed');
    expect(result.error?.code).toBe('TemplatesNeedPrometheus');
  });
});
