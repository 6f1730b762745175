import { describe, expect, it } from 'vitest';
import { ProxyMetrics } from '../../proxy/metrics.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import {
  dashboard,
  dashboardQueries,
  metricNames,
  monitoringDir as dir,
  recordedNames,
  ruleQueries,
} from '../support/monitoring.js';
import { runOrThrow } from '../support/processes.js';

// manifests/monitoring/ against the tools that read it: promtool checks and unit-tests the rules (CI
// installs Debian's prometheus package, which ships it), and every metric the dashboard and the rules
// name is one the proxy or the controller exports, or one the rules record.
// test/monitoring/dashboard.integration.test.ts runs the same queries on a real Prometheus.

/** The names every exporter registers, with a histogram's series (_bucket, _sum, _count). */
function exportedNames(): Set<string> {
  const registries = [
    new ProxyMetrics({ namespace: 'shop', deployment: 'podinfo', role: 'primary', revision: 'v1' }).registry,
    new ControllerMetrics().registry,
  ];
  const names = new Set<string>();
  for (const registry of registries) {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      names.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    }
  }
  return names;
}

describe('manifests/monitoring', () => {
  it('has rules promtool accepts', async () => {
    const out = await runOrThrow('promtool', ['check', 'rules', `${dir}rules.yaml`]);
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('has rules that pass their unit tests: change failure rate, outcomes, alerts', async () => {
    const out = await runOrThrow('promtool', [
      'test',
      'rules',
      `${dir}rules.test.yaml`,
      `${dir}outcomes.test.yaml`,
    ]);
    expect(out).toContain('SUCCESS');
  });

  it('names in the dashboard and the rules only metrics that are exported or recorded', () => {
    const known = new Set([...exportedNames(), ...recordedNames()]);
    for (const panel of dashboard.panels) {
      if (panel.type !== 'row') expect(panel.targets?.length, `panel "${panel.title}"`).toBeGreaterThan(0);
    }
    const queries = [...dashboardQueries(), ...ruleQueries()];
    const unknown: string[] = [];
    for (const { where, expr } of queries) {
      const names = metricNames(expr);
      expect(names.length, `${where} selects no metric: ${expr}`).toBeGreaterThan(0);
      for (const name of names) if (!known.has(name)) unknown.push(`${where}: ${name}`);
    }
    expect(unknown).toEqual([]);
    for (const name of ['sluice_releases_total', 'sluice_release_lead_time_seconds_bucket']) {
      expect(queries.some(({ expr }) => metricNames(expr).includes(name))).toBe(true);
    }
  });

  it('finds the metric names of an expression, not its functions, labels or ranges', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, destination) (rate(sluice_proxy_request_duration_seconds_bucket{role="primary", code=~"5.."}[$__rate_interval])))',
      ),
    ).toEqual(['sluice_proxy_request_duration_seconds_bucket']);
    expect(metricNames('a:b:c > 0.5 and on (namespace) sum by (x) (up) >= 4')).toEqual(['a:b:c', 'up']);
    expect(metricNames('max(sluice_controller_leader) < 1 or absent(sluice_controller_leader)')).toEqual([
      'sluice_controller_leader',
      'sluice_controller_leader',
    ]);
  });
});
