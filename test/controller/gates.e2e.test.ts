import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadTester, type LoadTester } from '../support/loadtester.js';
import { RELEASE_ANNOTATIONS, useReleaseScenarios, type DeploymentJson } from '../support/podinfo-release.js';
import { eventually } from '../support/eventually.js';

// Gates on a real control plane, against the gate server Flagger users run: Flagger's load tester, built from
// its Go module (hack/loadtester/build.sh). sluice.dev/webhooks points at its /gate/* and /rollback/* paths
// as a Flagger Canary's webhooks would, and the test drives it as a person would, with /gate/open and
// /gate/close.

describe('gates with Flagger’s load tester', () => {
  const scenario = useReleaseScenarios();
  const c = scenario.cluster;
  const { getJson, exists, canaryPhase, setUp } = scenario;
  let loadTester: LoadTester;

  beforeAll(async () => {
    loadTester = await startLoadTester();
  });
  afterAll(async () => {
    await loadTester.stop();
  });

  const withGates = (webhooks: string) => ({
    annotations: { ...RELEASE_ANNOTATIONS, 'sluice.dev/webhooks': webhooks },
  });
  const newImage = (ns: string) =>
    c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);

  it('holds a release at confirm-rollout and confirm-promotion until the gate opens', async () => {
    const ns = 'gate-confirm';
    const lt = loadTester.url;
    await setUp(
      ns,
      withGates(
        `confirm-rollout=${lt}/gate/check,pre-rollout=${lt}/gate/approve,rollout=${lt}/gate/approve,` +
          `confirm-promotion=${lt}/gate/check,post-rollout=${lt}/gate/halt`,
      ),
    );
    const canary = { name: 'podinfo', namespace: ns };
    await newImage(ns);

    // The gate starts closed: the release waits, and no canary is created while it does.
    const waiting = await eventually('the release to wait for approval', () => canaryPhase(ns, 'Waiting'), {
      timeoutMs: 60_000,
    });
    expect(waiting.status?.failedChecks).toBe(0);
    expect(await scenario.eventMessages(ns, 'WaitingForApproval')).toContain(
      `confirm-rollout gate ${lt}/gate/check answered HTTP 403: Forbidden`,
    );
    expect(await exists(ns, 'deployment/podinfo-canary')).toBe(false);

    expect(await loadTester.post('/gate/open', canary)).toBe(202);
    await eventually('the release to progress', () => canaryPhase(ns, 'Progressing'), { timeoutMs: 60_000 });
    // Closed again while the weight steps: the release halts before promotion, and the checks go on.
    expect(await loadTester.post('/gate/close', canary)).toBe(202);
    const held = await eventually(
      'the promotion to wait for approval',
      () => canaryPhase(ns, 'WaitingPromotion'),
      { timeoutMs: 90_000 },
    );
    expect(held.status).toMatchObject({ canaryWeight: 50, failedChecks: 0 });
    const paused = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(paused.spec.paused).toBe(true);

    expect(await loadTester.post('/gate/open', canary)).toBe(202);
    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=90s'], {
      timeoutMs: 100_000,
    });
    expect((await getJson<{ status?: { phase?: string } }>(ns, 'canary/podinfo')).status?.phase).toBe(
      'Succeeded',
    );
    // /gate/halt always answers 403: a post-rollout failure is reported and changes nothing.
    const postRollout = await eventually(
      'the post-rollout failure to be reported',
      async () => {
        const messages = await scenario.eventMessages(ns, 'PostRolloutFailed');
        return messages === '' ? undefined : messages;
      },
      { timeoutMs: 60_000 },
    );
    expect(postRollout).toContain(`post-rollout gate ${lt}/gate/halt answered HTTP 403: Forbidden`);
  });

  it('counts a halted pre-rollout gate as failed checks and rolls back at the threshold', async () => {
    const ns = 'gate-halt';
    await setUp(ns, withGates(`pre-rollout=${loadTester.url}/gate/halt`));
    await newImage(ns);
    const failed = await eventually('the release to roll back', () => canaryPhase(ns, 'Failed'), {
      timeoutMs: 90_000,
    });
    expect(failed.status).toMatchObject({ failedChecks: 2, canaryWeight: 0 });
    expect(await scenario.eventMessages(ns, 'RolledBack')).toContain(
      `pre-rollout gate ${loadTester.url}/gate/halt answered HTTP 403: Forbidden`,
    );
    // No request reached the canary: the pre-rollout gate stands before the first route.
    expect(scenario.data().load.totals()?.canaryRequests ?? 0).toBe(0);
  });

  it('rolls back when the load tester’s rollback gate is opened', async () => {
    const ns = 'gate-rollback';
    await setUp(ns, withGates(`rollback=${loadTester.url}/rollback/check`));
    await newImage(ns);
    await scenario.releaseRunning(ns);
    expect(await loadTester.post('/rollback/open', { name: 'podinfo', namespace: ns })).toBe(202);
    const failed = await eventually('the release to roll back', () => canaryPhase(ns, 'Failed'), {
      timeoutMs: 60_000,
    });
    expect(failed.status?.failedChecks).toBe(0);
    expect(await scenario.eventMessages(ns, 'RolledBack')).toContain(
      `the rollback gate ${loadTester.url}/rollback/check answered 2xx`,
    );
    const deployment = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(deployment.spec.paused).toBe(true);
  });
});
