import { describe, expect, it } from 'vitest';
import { RELEASE_ANNOTATIONS, useReleaseScenarios, type DeploymentJson } from '../support/podinfo-release.js';
import { eventually } from '../support/eventually.js';

// A gRPC service released end to end: `sluice.dev/protocol: grpc` on the Deployment; the data path is a
// gRPC app v1 behind a real `sluice proxy --app-protocol grpc`, app v2 where the canary Service would be
// (reached over h2c), gRPC load with some `traffic: test` metadata, and a real Prometheus scraping the
// proxy; the webhook and the controller as in every release test. A call that ends with a grpc-status
// other than OK is an error to the analysis, though every answer is HTTP 200.

const GRPC_ANNOTATIONS = { ...RELEASE_ANNOTATIONS, 'sluice.dev/protocol': 'grpc' };

describe('a gRPC service on a real control plane', () => {
  const scenario = useReleaseScenarios();
  const c = () => scenario.cluster();

  it('promotes a healthy v2: test calls by metadata and weighted calls reach it over h2c', async () => {
    const ns = 'grpc-good';
    await scenario.setUp(ns, { annotations: GRPC_ANNOTATIONS, protocol: 'grpc' });
    const primary = await scenario.getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(JSON.stringify(primary.spec.template.spec)).toContain('"SLUICE_APP_PROTOCOL","value":"grpc"');
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    const canary = await scenario.canaryDeployment<DeploymentJson>(ns);
    // The canary's own proxy speaks gRPC to its app too.
    expect(JSON.stringify(canary.spec.template.spec)).toContain('"SLUICE_APP_PROTOCOL","value":"grpc"');
    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const totals = scenario.data().load.totals();
    expect(totals.testCanaryRequests).toBeGreaterThan(0);
    expect(totals.canaryRequests).toBeGreaterThan(totals.testCanaryRequests);
    expect(totals.failures).toBe(0);
  });

  it('rolls back a v2 whose calls fail with grpc-status INTERNAL', async () => {
    const ns = 'grpc-bad';
    await scenario.setUp(ns, {
      annotations: GRPC_ANNOTATIONS,
      protocol: 'grpc',
      canary: { errorRate: 0.6, latencyMs: 0 },
    });
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    const failed = await eventually('the rollback', () => scenario.canaryPhase(ns, 'Failed'), {
      timeoutMs: 120_000,
    });
    expect(failed.status?.failedChecks).toBe(2);
    expect(await scenario.eventMessages(ns, 'RolledBack')).toMatch(/success rate [\d.]+% < /);
    expect(scenario.data().load.totals().canaryFailures).toBeGreaterThan(0);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);
  });
});
