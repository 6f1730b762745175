import { describe, expect, it } from 'vitest';
import {
  imageOf,
  RELEASE_ANNOTATIONS,
  useReleaseScenarios,
  type CanaryJson,
  type DeploymentJson,
} from '../support/podinfo-release.js';
import { type SluiceProcess } from '../support/processes.js';
import { eventually } from '../support/eventually.js';

// Faults during a release on a real control plane (docs/faults.md): Prometheus gone, the API server
// restarted, the webhook down under either failurePolicy, and a leader stalled past its Lease. Every wait
// is for an event, a condition or a log line; nothing sleeps and then asserts that nothing happened.

type LogLine = Record<string, unknown>;

const at = (line: LogLine): number => Date.parse(String(line['time']));
const releaseEvents = (p: SluiceProcess, reason: string): LogLine[] =>
  p.logs.filter((l) => l['msg'] === 'releaseEvent' && l['reason'] === reason);

describe('a release under faults', () => {
  const scenario = useReleaseScenarios();
  const c = scenario.cluster;
  const { getJson, exists, canaryPhase, setUp } = scenario;
  const setImage = (ns: string, tag: string): Promise<string> =>
    c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, `podinfo=example/podinfo:${tag}`]);
  const promoted = (ns: string): Promise<string> =>
    c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=150s'], {
      timeoutMs: 160_000,
    });
  const metricsUnavailable = (ns: string): Promise<CanaryJson> =>
    eventually(
      'a check that failed for want of metrics',
      async () => {
        const canary = await getJson<
          CanaryJson & { status?: { lastAnalysis?: { error?: { code: string } } } }
        >(ns, 'canary/podinfo');
        return canary.status?.lastAnalysis?.error?.code === 'ProviderUnreachable' ? canary : undefined;
      },
      { timeoutMs: 60_000 },
    );

  it('halts while Prometheus is down, and finishes the release when it returns before the threshold', async () => {
    const ns = 'prometheus-returns';
    await setUp(ns, { annotations: { ...RELEASE_ANNOTATIONS, 'sluice.dev/threshold': '3' } });
    await setImage(ns, '2.0');
    await scenario.releaseRunning(ns);
    const prometheus = scenario.data().prometheus;
    const controller = scenario.controller();

    const down = Date.now();
    await prometheus.interrupt();
    const halted = await metricsUnavailable(ns);
    expect(halted.status?.phase).toBe('Progressing');
    expect(halted.status?.canaryWeight).toBe(20);
    expect(halted.status?.failedChecks).toBeGreaterThanOrEqual(1);
    // The condition follows the check on the next step, so that `kubectl wait` and `sluice status` show it.
    await eventually(
      'ProxyReachable to say MetricsUnreachable',
      async () => {
        const canary = await getJson<CanaryJson>(ns, 'canary/podinfo');
        const condition = canary.status?.conditions?.find((x) => x.type === 'ProxyReachable');
        return condition?.reason === 'MetricsUnreachable' ? condition : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(await scenario.eventMessages(ns, 'CheckFailed')).toContain('metrics unavailable');

    await prometheus.restart();
    const up = Date.now();
    await promoted(ns);
    // While the metrics were missing nothing advanced: every step up came before the outage or after it.
    for (const reason of ['WeightIncreased', 'Promoting']) {
      for (const line of releaseEvents(controller, reason)) {
        expect(at(line) < down || at(line) >= up, `${reason} at ${String(line['time'])}`).toBe(true);
      }
    }
    const canary = await getJson<CanaryJson>(ns, 'canary/podinfo');
    expect(canary.status?.phase).toBe('Succeeded');
    expect(canary.status?.failedChecks).toBeLessThan(3);
  });

  it('rolls back when Prometheus stays down until the threshold of failed checks', async () => {
    const ns = 'prometheus-gone';
    await setUp(ns);
    const replicaSets = await scenario.replicaSets(ns);
    await setImage(ns, '2.0');
    await scenario.releaseRunning(ns);
    const down = Date.now();
    await scenario.data().prometheus.interrupt();

    const failed = await eventually('the rollback', () => canaryPhase(ns, 'Failed'), { timeoutMs: 60_000 });
    expect(failed.status?.outcome?.reason).toBe('RolledBack');
    expect(failed.status?.outcome?.message).toContain('2 failed checks (threshold 2)');
    expect(failed.status?.outcome?.message).toContain('metrics unavailable');
    const stepsUp = [
      ...releaseEvents(scenario.controller(), 'WeightIncreased'),
      ...releaseEvents(scenario.controller(), 'Promoting'),
    ];
    expect(stepsUp.filter((line) => at(line) >= down)).toEqual([]);
    await eventually(
      'the canary objects to be deleted',
      async () => (!(await exists(ns, 'deployment/podinfo-canary')) ? true : undefined),
      { timeoutMs: 60_000 },
    );
    expect(await scenario.replicaSets(ns)).toEqual(replicaSets);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);
  });

  it('finishes a release across a kube-apiserver restart: watches, the Lease and the webhook recover', async () => {
    const ns = 'apiserver-restart';
    await setUp(ns);
    await setImage(ns, '2.0');
    await scenario.releaseRunning(ns);
    const controller = scenario.controller();

    let restartedAt = 0;
    await c().restartApiServer(async () => {
      restartedAt = Date.now();
    });
    await promoted(ns);

    // The watches failed and were made again: the release finished from watch events and fresh caches.
    expect(controller.logs.some((l) => l['msg'] === 'watchFailed' && at(l) >= restartedAt)).toBe(true);
    const lease = JSON.parse(
      await c().kubectl(['get', 'lease', `sluice-${ns}`, '-n', 'sluice-system', '-o', 'json']),
    ) as { spec: { holderIdentity: string; renewTime: string } };
    expect(Date.parse(lease.spec.renewTime)).toBeGreaterThan(restartedAt);
    const leadership = controller.logs.filter((l) => l['msg'] === 'leadership');
    expect(leadership.at(-1)?.['leading']).toBe(true);
    expect(lease.spec.holderIdentity).toBe(leadership.at(-1)?.['identity']);

    // The API server calls the webhook again: the next change is held.
    await setImage(ns, '3.0');
    const held = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(held.spec.paused).toBe(true);
    expect(held.metadata.annotations?.['sluice.dev/candidate-revision']).toMatch(/^[0-9a-f]{10}$/);
  });

  it('refuses a change while the webhook is down under failurePolicy Fail, and leaves the Deployment as it was', async () => {
    const ns = 'webhook-down-fail';
    await scenario.optIn(ns);
    const before = await getJson<DeploymentJson & { metadata: { resourceVersion: string } }>(
      ns,
      'deployment/podinfo',
    );
    await scenario.installed().stopWebhook();
    try {
      const refused = await c().tryKubectl([
        'set',
        'image',
        'deployment/podinfo',
        '-n',
        ns,
        'podinfo=example/podinfo:2.0',
      ]);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toContain('failed calling webhook "deployments.webhook.sluice.dev"');
      const after = await getJson<DeploymentJson & { metadata: { resourceVersion: string } }>(
        ns,
        'deployment/podinfo',
      );
      expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      expect(imageOf(after)).toBe('example/podinfo:1.0');
      expect(after.spec.paused).toBeFalsy();
    } finally {
      await scenario.installed().startWebhook();
    }
    // Back up, the same change is held as usual.
    await setImage(ns, '2.0');
    expect((await getJson<DeploymentJson>(ns, 'deployment/podinfo')).spec.paused).toBe(true);
  });

  it('under failurePolicy Ignore, lets a change through unanalysed while the webhook is down, says so, and takes it as stable', async () => {
    const ns = 'webhook-down-ignore';
    await setUp(ns);
    const stableBefore = (await getJson<DeploymentJson>(ns, 'deployment/podinfo')).metadata.annotations?.[
      'sluice.dev/stable-revision'
    ];
    const ignore = [0, 1].map((i) => ({
      op: 'replace',
      path: `/webhooks/${i}/failurePolicy`,
      value: 'Ignore',
    }));
    await c().kubectl([
      'patch',
      'mutatingwebhookconfiguration/sluice-webhook',
      '--type=json',
      '-p',
      JSON.stringify(ignore),
    ]);
    await scenario.installed().stopWebhook();
    try {
      await setImage(ns, '2.0');
      const through = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
      expect(imageOf(through)).toBe('example/podinfo:2.0');
      expect(through.spec.paused).toBeFalsy();
      expect(through.metadata.annotations?.['sluice.dev/candidate-revision']).toBeUndefined();

      const warning = await eventually(
        'the ChangeNotHeld Event',
        async () => {
          const messages = await scenario.eventMessages(ns, 'ChangeNotHeld');
          return messages === '' ? undefined : messages;
        },
        { timeoutMs: 60_000 },
      );
      expect(warning).toContain('without the sluice webhook');
      expect(warning).toContain('without canary analysis');
      const adopted = await eventually(
        'the change to be taken as stable',
        async () => {
          const d = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
          const stable = d.metadata.annotations?.['sluice.dev/stable-revision'];
          return stable !== stableBefore ? stable : undefined;
        },
        { timeoutMs: 60_000 },
      );
      await scenario.rolledOut(ns);
      expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:2.0', 'example/podinfo:2.0']);
      await scenario.controllerCaughtUp(ns);
      const canary = await getJson<CanaryJson>(ns, 'canary/podinfo');
      expect(canary.status?.phase).toBe('Initialized');
      expect(canary.status?.stableRevision).toBe(adopted);
      expect(await exists(ns, 'deployment/podinfo-canary')).toBe(false);
    } finally {
      await scenario.installed().startWebhook();
      await scenario.installed().registerWebhook();
    }
    // With the webhook back, an unrelated update holds nothing, and the next change is canaried against 2.0.
    await c().kubectl(['annotate', 'deployment/podinfo', '-n', ns, 'team=shop']);
    expect((await getJson<DeploymentJson>(ns, 'deployment/podinfo')).spec.paused).toBeFalsy();
    await setImage(ns, '3.0');
    await scenario.releaseRunning(ns);
  });

  it('lets no two leaders act when a stalled leader comes back after another took its Lease', async () => {
    const ns = 'lease-stall';
    await setUp(ns);
    const first = scenario.controller();
    const second = await scenario.startReplica('replica-b');
    const pid = first.child.pid ?? 0;
    let stalled = false;
    try {
      await setImage(ns, '2.0');
      await scenario.releaseRunning(ns);
      // A network partition as the process sees it: it runs nothing, its timers fire late, all at once.
      process.kill(pid, 'SIGSTOP');
      stalled = true;
      await second.waitForLog('leadership', 30_000);
      // The new leader acts: the next check moves the weight on.
      await eventually(
        'the new leader to step the release',
        async () => (second.logs.some((l) => l['msg'] === 'releaseEvent') ? true : undefined),
        { timeoutMs: 60_000 },
      );
      const seenBefore = first.logs.length;
      process.kill(pid, 'SIGCONT');
      stalled = false;
      await eventually(
        'the stalled leader to step down',
        async () =>
          first.logs.slice(seenBefore).some((l) => l['msg'] === 'leadership' && l['leading'] === false)
            ? true
            : undefined,
        { timeoutMs: 60_000 },
      );
      await promoted(ns);
      const after = first.logs.slice(seenBefore).map((l) => l['msg']);
      expect(after).not.toContain('releaseEvent');
      expect(after).not.toContain('releaseWarning');
      expect(after).not.toContain('releaseActionFailed');
      // Each step happened once: no duplicate weight step, promotion or Event.
      for (const reason of ['Promoting', 'Promoted', 'WeightIncreased']) {
        const events = JSON.parse(
          await c().kubectl([
            'get',
            'events',
            '-n',
            ns,
            '--field-selector',
            `reason=${reason}`,
            '-o',
            'json',
          ]),
        ) as { items: { message: string }[] };
        // The step a message names is before its colon ("Advance canary weight 50: success rate …").
        const steps = events.items.map((e) => e.message.split(':')[0]);
        expect(new Set(steps).size, `${reason}: ${steps.join(' | ')}`).toBe(steps.length);
      }
      expect((await getJson<CanaryJson>(ns, 'canary/podinfo')).status?.phase).toBe('Succeeded');
    } finally {
      if (stalled) process.kill(pid, 'SIGCONT');
      await second.stop();
    }
  });
});
