import { describe, expect, it } from 'vitest';
import { RELEASE_ANNOTATIONS, useReleaseScenarios, type CanaryJson } from '../support/podinfo-release.js';
import { eventually } from '../support/eventually.js';

// Mirroring end to end: `sluice.dev/mirror` on the Deployment, admitted by the webhook; the controller
// publishes the mirror share at weight 0, the real `sluice proxy` copies the GETs of the load to app v2
// (where the canary Service would be) and drops the answers, and the checks of the mirror phase read
// the copies from a real Prometheus (`destination="mirror"`). Only the `traffic: test` requests of the
// load are answered by v2 until the mirror checks pass.

const MIRROR_ANNOTATIONS = {
  ...RELEASE_ANNOTATIONS,
  'sluice.dev/mirror': '50',
  'sluice.dev/mirror-checks': '2',
};

interface MirrorCanaryJson extends CanaryJson {
  status?: CanaryJson['status'] & { mirrorChecks?: number; route?: { weight: number; mirror?: number } };
}

describe('mirroring on a real control plane', () => {
  const scenario = useReleaseScenarios();
  const c = () => scenario.cluster();

  const mirrored = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${scenario.data().proxy.adminPort}/metrics`)).text();
    return text
      .split('\n')
      .filter(
        (line) => line.startsWith('sluice_proxy_requests_total{') && line.includes('destination="mirror"'),
      )
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  };

  it('analyses copies before any user reaches v2, then steps the weight and promotes', async () => {
    const ns = 'mirror-good';
    await scenario.setUp(ns, { annotations: MIRROR_ANNOTATIONS });
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);

    const mirroring = await eventually(
      'the mirror phase with one passing check',
      async () => {
        const canary = await scenario.getJson<MirrorCanaryJson>(ns, 'canary/podinfo');
        return canary.status?.phase === 'Mirroring' && canary.status.mirrorChecks === 1 ? canary : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const totals = scenario.data().load.totals();
    expect(mirroring.status?.route).toMatchObject({ weight: 0, mirror: 50 });
    expect(mirroring.status?.canaryWeight).toBe(0);
    // Read after the phase: every v2 answer so far came in the mirror phase, and was a test request's.
    expect(totals.canaryRequests).toBe(totals.testCanaryRequests);
    expect(await mirrored()).toBeGreaterThan(0);
    expect(await scenario.eventMessages(ns, 'CheckPassed')).toMatch(
      /Mirror check 1\/2 passed: mirrored requests: success rate/,
    );

    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    expect(await scenario.eventMessages(ns, 'CanaryReady')).toContain('mirroring 50%');
    expect(await scenario.eventMessages(ns, 'WeightIncreased')).toMatch(
      /Advance canary weight 20: 2 mirror checks passed/,
    );
    const after = scenario.data().load.totals();
    expect(after.canaryRequests).toBeGreaterThan(after.testCanaryRequests);
    expect(after.failures).toBe(0);
  });

  it('rolls back a failing v2 on its copies, no ordinary user request ever reaching it', async () => {
    const ns = 'mirror-bad';
    await scenario.setUp(ns, { annotations: MIRROR_ANNOTATIONS, canary: { errorRate: 0.6, latencyMs: 0 } });
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    const failed = await eventually('the rollback', () => scenario.canaryPhase(ns, 'Failed'), {
      timeoutMs: 120_000,
    });
    expect(failed.status?.failedChecks).toBe(2);
    expect(await scenario.eventMessages(ns, 'RolledBack')).toMatch(
      /mirrored requests: success rate [\d.]+% </,
    );
    expect(await scenario.eventMessages(ns, 'WeightIncreased')).toBe('');
    const totals = scenario.data().load.totals();
    expect(totals.canaryRequests).toBe(totals.testCanaryRequests);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);
  });
});
