import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExposition } from '../../src/metrics/exposition.js';
import { increaseOver, isError, selectors, sideFromIncreases } from '../../src/metrics/window.js';

const fixture = readFileSync(new URL('../fixtures/metrics/primary-proxy.txt', import.meta.url), 'utf8');

/** One proxy's counters as text: canary requests (200 and 503) and local requests. */
const proxyText = (canaryOk: number, canaryFailed: number, local: number): string =>
  [
    `sluice_proxy_requests_total{destination="canary",code="200"} ${canaryOk}`,
    `sluice_proxy_requests_total{destination="canary",code="503"} ${canaryFailed}`,
    `sluice_proxy_requests_total{destination="local",code="200"} ${local}`,
  ].join('\n');

const scrape = (at: number, ...counts: [number, number, number]) => ({
  at,
  samples: parseExposition(proxyText(...counts)),
});

const total = (samples: ReturnType<typeof increaseOver>, destination: string, code?: string): number =>
  samples
    .filter(
      (s) => s.labels['destination'] === destination && (code === undefined || s.labels['code'] === code),
    )
    .reduce((sum, s) => sum + s.value, 0);

describe('counter increases over a window', () => {
  it('diffs against the last scrape before the window', () => {
    const scrapes = [scrape(0, 5, 0, 50), scrape(60, 15, 2, 150), scrape(120, 40, 2, 400)];
    const grew = increaseOver(scrapes, 60, 120, false);
    expect(total(grew, 'canary')).toBe(25);
    expect(total(grew, 'local')).toBe(250);
  });

  it('counts across a counter reset, as a proxy restart causes', () => {
    const scrapes = [
      scrape(0, 100, 10, 1000),
      scrape(30, 120, 10, 1200),
      scrape(45, 7, 1, 70),
      scrape(60, 20, 3, 200),
    ];
    const grew = increaseOver(scrapes, 0, 60, false);
    expect(total(grew, 'canary', '200')).toBe(20 + 7 + 13);
    expect(total(grew, 'canary', '503')).toBe(0 + 1 + 2);
    expect(total(grew, 'local')).toBe(200 + 70 + 130);
  });

  it('counts a proxy that appeared in the window from zero', () => {
    const grew = increaseOver([scrape(40, 8, 1, 30), scrape(60, 10, 1, 60)], 0, 60, true);
    expect(total(grew, 'canary')).toBe(11);
  });

  it('counts a proxy first scraped in the window from its first scrape when its age is unknown', () => {
    const grew = increaseOver([scrape(40, 8, 1, 30), scrape(60, 10, 1, 60)], 0, 60, false);
    expect(total(grew, 'canary')).toBe(2);
  });

  it('keeps what a proxy that left served before it went', () => {
    const grew = increaseOver([scrape(0, 0, 0, 0), scrape(30, 9, 1, 90)], 0, 60, false);
    expect(total(grew, 'canary')).toBe(10);
  });

  it('counts a series that appears between scrapes from zero', () => {
    const first = {
      at: 0,
      samples: parseExposition('sluice_proxy_requests_total{destination="local",code="200"} 5'),
    };
    const grew = increaseOver([first, scrape(60, 3, 1, 9)], 0, 60, false);
    expect(total(grew, 'canary')).toBe(4);
    expect(total(grew, 'local')).toBe(4);
  });

  it('has nothing for a proxy with no scrape in the window', () => {
    expect(increaseOver([scrape(0, 1, 1, 1)], 10, 60, false)).toEqual([]);
  });
});

describe('one side of a release from increases', () => {
  const samples = parseExposition(fixture);
  const side = selectors('shop', 'podinfo');

  it('reads the canary as the primaries measured it', () => {
    const canary = sideFromIncreases(samples, side.canary, [0.5, 0.99]);
    expect(canary.requests).toBe(100);
    expect(canary.errorRate).toBeCloseTo(10);
    expect(canary.successRate).toBeCloseTo(90);
    expect(canary.meanLatencyMs).toBeCloseTo(60);
    expect(canary.latencyQuantilesMs['0.5']).toBeCloseTo(50);
    expect(canary.latencyQuantilesMs['0.99']).toBeCloseTo(100);
  });

  it('reads the primary from its local traffic', () => {
    const primary = sideFromIncreases(samples, side.primary, [0.95]);
    expect(primary).toMatchObject({ requests: 900, successRate: 100, errorRate: 0 });
    expect(primary.meanLatencyMs).toBeCloseTo(5);
    expect(primary.latencyQuantilesMs['0.95']).toBeCloseTo(9.5);
  });

  it('reads the canary from its mirrored copies when asked', () => {
    expect(selectors('shop', 'podinfo', 'mirrored').canary).toEqual({
      namespace: 'shop',
      deployment: 'podinfo',
      role: 'primary',
      destination: 'mirror',
    });
    const labels = 'namespace="shop",deployment="podinfo",role="primary",revision="abc123"';
    const text = [
      `sluice_proxy_requests_total{destination="mirror",code="200",method="GET",${labels}} 45`,
      `sluice_proxy_requests_total{destination="mirror",code="502",method="GET",${labels}} 5`,
      `sluice_proxy_requests_total{destination="canary",code="200",method="GET",${labels}} 7`,
    ].join('\n');
    const mirrored = sideFromIncreases(
      parseExposition(text),
      selectors('shop', 'podinfo', 'mirrored').canary,
      [],
    );
    expect(mirrored).toMatchObject({ requests: 50, errorRate: 10 });
  });

  it('has no rates or latencies without requests', () => {
    expect(sideFromIncreases(samples, selectors('shop', 'other').canary, [0.99])).toEqual({
      requests: 0,
      successRate: null,
      errorRate: null,
      meanLatencyMs: null,
      latencyQuantilesMs: { '0.99': null },
    });
  });
});

describe('what counts as an error', () => {
  it('is a 5xx answer, or a gRPC call whose grpc-status is not 0, whatever its HTTP status', () => {
    expect(isError({ code: '503' })).toBe(true);
    expect(isError({ code: '404' })).toBe(false);
    expect(isError({ code: '200', grpc_status: '0' })).toBe(false);
    expect(isError({ code: '200', grpc_status: '14' })).toBe(true);
    expect(isError({ code: '499', grpc_status: '4' })).toBe(true);
    expect(isError({ code: '499' })).toBe(false);
    expect(isError({ code: '200', grpc_status: 'other' })).toBe(true);
  });

  it('reads a gRPC canary whose calls fail with HTTP 200 as failing', () => {
    const labels = 'namespace="shop",deployment="podinfo",role="primary",revision="abc123"';
    const text = [
      `sluice_proxy_requests_total{destination="canary",code="200",method="POST",grpc_status="0",${labels}} 70`,
      `sluice_proxy_requests_total{destination="canary",code="200",method="POST",grpc_status="13",${labels}} 20`,
      `sluice_proxy_requests_total{destination="canary",code="502",method="POST",grpc_status="14",${labels}} 10`,
    ].join('\n');
    const canary = sideFromIncreases(parseExposition(text), selectors('shop', 'podinfo').canary, []);
    expect(canary).toMatchObject({ requests: 100, errorRate: 30, successRate: 70 });
  });
});
