import { describe, expect, it } from 'vitest';
import { RELEASE_ANNOTATIONS, useReleaseScenarios, type CanaryJson } from '../support/podinfo-release.js';
import { eventually } from '../support/eventually.js';

// Metric templates and objectives relative to the primary on a real control plane: the template ConfigMap
// read by the controller under its own RBAC, the webhook admitting the objectives, a real Prometheus
// scraping the primary's real proxy, and the check history in the Canary's status.

const requests = (extra = '') =>
  `sluice_proxy_requests_total{namespace="{{ namespace }}",deployment="{{ deployment }}",role="primary",` +
  `destination="canary"${extra}}[{{ interval }}]`;

/** The share of the canary's requests that failed, as the primaries' proxies saw them, in percent. */
const CANARY_ERRORS = `100 * (sum(increase(${requests(',code=~"5.."')})) or vector(0)) / sum(increase(${requests()}))`;

const ANNOTATIONS = {
  ...RELEASE_ANNOTATIONS,
  'sluice.dev/metric-templates': 'podinfo-metrics',
  'sluice.dev/objectives': 'canary-errors<=5,error-rate<=primary+1%',
};

interface CheckRecordJson {
  result: string;
  canaryRequests: number | null;
  objectives: {
    objective: string;
    value: number | null;
    threshold: number | null;
    primary?: number | null;
  }[];
}
type AnalysedCanary = CanaryJson & { status?: { checkHistory?: CheckRecordJson[] } };

describe('analysis with metric templates and objectives relative to the primary', () => {
  const scenario = useReleaseScenarios();
  const c = scenario.cluster;

  const templates = (ns: string) =>
    c().apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'podinfo-metrics', namespace: ns },
      data: { 'canary-errors': CANARY_ERRORS },
    });

  it('promotes a healthy canary, keeping every check with its numbers', async () => {
    const ns = 'analysis-promote';
    await scenario.setUp(ns, { annotations: ANNOTATIONS });
    await templates(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const canary = await scenario.getJson<AnalysedCanary>(ns, 'canary/podinfo');
    const passed = (canary.status?.checkHistory ?? []).filter((check) => check.result === 'passed');
    // One passing check at each weight, 20 and 50, then the promotion.
    expect(passed.length).toBeGreaterThanOrEqual(2);
    for (const check of passed) {
      expect(check.canaryRequests).toBeGreaterThan(0);
      const [template, relative] = check.objectives;
      expect(template).toMatchObject({ objective: 'canary-errors', value: 0, threshold: 5 });
      expect(relative).toMatchObject({ objective: 'error-rate', value: 0, primary: 0, threshold: 1 });
    }
  });

  it('rolls back a failing canary, naming the template and the primary in the reason', async () => {
    const ns = 'analysis-rollback';
    await scenario.setUp(ns, { annotations: ANNOTATIONS, canary: { errorRate: 0.5, latencyMs: 0 } });
    await templates(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    const failed = await eventually('the rollback', () => scenario.canaryPhase(ns, 'Failed'), {
      timeoutMs: 120_000,
    });
    expect(failed.status?.outcome?.reason).toBe('RolledBack');
    const summary = failed.status?.lastAnalysis?.summary ?? '';
    expect(summary).toMatch(/canary-errors \d+(\.\d+)? > 5/);
    expect(summary).toMatch(/error rate \d+(\.\d+)?% > 1% \(primary 0% \+ 1%\)/);
    const history = (failed as AnalysedCanary).status?.checkHistory ?? [];
    expect(history.filter((check) => check.result === 'failed')).toHaveLength(2);
    expect(await scenario.eventMessages(ns, 'CheckFailed')).toContain('canary-errors');
  });

  it('fails the check with an Event naming the ConfigMap and the key it lacks', async () => {
    const ns = 'analysis-missing';
    await scenario.setUp(ns, {
      annotations: { ...ANNOTATIONS, 'sluice.dev/objectives': 'queue-depth<10' },
    });
    await templates(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    await eventually('the rollback', () => scenario.canaryPhase(ns, 'Failed'), { timeoutMs: 120_000 });
    expect(await scenario.eventMessages(ns, 'CheckFailed')).toContain(
      `ConfigMap ${ns}/podinfo-metrics has no key queue-depth`,
    );
  });
});
