import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../proxy/proxy.js';
import { DirectProvider } from '../../src/metrics/direct.js';
import { PrometheusProvider } from '../../src/metrics/prometheus.js';
import type { ReleaseMetrics } from '../../src/metrics/provider.js';
import { echoClient, startGrpcApp, unary, type EchoClient, type GrpcApp } from '../support/grpc.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { startTestProxy } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

/**
 * A gRPC canary whose failures are HTTP 200 with a grpc-status: a real Prometheus scrapes the primary's
 * proxy while calls pass through it, a quarter of the canary's failing with INTERNAL. Both providers
 * must read the canary's error rate as a quarter, and the primary's as none.
 */
const target = { namespace: 'shop', deployment: 'podinfo' };
const CALLS = 400;
const SCRAPED = 'sum(sluice_proxy_requests_total{role="primary"})';

let primaryApp: GrpcApp;
let canaryApp: GrpcApp;
let canaryProxy: RunningProxy;
let proxy: RunningProxy;
let client: EchoClient;
let prometheus: RunningPrometheus;
let direct: ReleaseMetrics;
let fromPrometheus: ReleaseMetrics;

/** Calls to each side; every 4th canary call fails. */
async function load(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await unary(client, i % 4 === 0 ? 'fail' : 'ok', { traffic: 'test' }).catch(() => undefined);
    await unary(client, 'ok');
  }
}

beforeAll(async () => {
  primaryApp = await startGrpcApp('v1');
  canaryApp = await startGrpcApp('v2');
  canaryProxy = await startTestProxy({ appPort: canaryApp.port, appProtocol: 'grpc', role: 'canary' });
  proxy = await startTestProxy({ appPort: primaryApp.port, appProtocol: 'grpc' });
  proxy.applyRoute({
    version: 'r1',
    canary: {
      url: `http://127.0.0.1:${canaryProxy.port}`,
      weight: 0,
      match: [{ header: 'traffic', exact: 'test' }],
      segment: [],
      sticky: null,
    },
  });
  client = echoClient(proxy.port);
  const metricsUrl = `http://127.0.0.1:${proxy.adminPort}/metrics`;
  prometheus = await startPrometheus([`127.0.0.1:${proxy.adminPort}`]);
  const directProvider = new DirectProvider({ discover: () => [metricsUrl] });

  // Every series (OK and failed, each side) exists before the window opens.
  await load(8);
  await eventually('the warm-up scrape', async () => ((await prometheus.value(SCRAPED)) ?? 0) >= 16, {
    timeoutMs: 20_000,
  });
  const start = Date.now();
  await directProvider.scrape(target);
  await new Promise((r) => setTimeout(r, 2_500));
  await load(CALLS);
  await eventually(
    'the load scrape',
    async () => ((await prometheus.value(SCRAPED)) ?? 0) >= 16 + 2 * CALLS,
    { timeoutMs: 20_000 },
  );
  await new Promise((r) => setTimeout(r, 1_500));
  const at = Date.now();
  const query = { target, windowMs: at - start, quantiles: [0.5], at };
  direct = await directProvider.measure(query);
  fromPrometheus = await new PrometheusProvider({ url: prometheus.url }).measure(query);
}, 120_000);

afterAll(async () => {
  client?.close();
  await prometheus?.stop();
  await proxy?.drain();
  await canaryProxy?.drain();
  await primaryApp?.close();
  await canaryApp?.close();
});

describe('gRPC failures in analysis', () => {
  it('the direct provider reads a quarter of the canary calls as errors, exactly', () => {
    expect(direct.canary.requests).toBe(CALLS);
    expect(direct.canary.errorRate).toBeCloseTo(25, 6);
    expect(direct.primary.errorRate).toBe(0);
  });

  it('Prometheus reads the same rates', () => {
    expect(fromPrometheus.canary.errorRate).toBeGreaterThan(23);
    expect(fromPrometheus.canary.errorRate).toBeLessThan(27);
    expect(fromPrometheus.primary.successRate).toBe(100);
  });
});
