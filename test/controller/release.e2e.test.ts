import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  imageOf,
  podinfo,
  useReleaseScenarios,
  watchCanaries,
  type CanaryJson,
  type ConfigMapJson,
  type ConfigUse,
  type DeploymentJson,
} from '../support/podinfo-release.js';
import { eventually } from '../support/eventually.js';

// The whole release flow on a real control plane (DESIGN.md, "A release, end to end"): the webhook and the
// controller as local processes under their real identities and RBAC, kwok running the pods, and the data
// path (app v1 behind a real sluice proxy, v2 as the canary, a real Prometheus) on loopback.

describe('a release on a real control plane', () => {
  // At the most verbose level, so that the Secret test searches every line sluice could log.
  const scenario = useReleaseScenarios({ logLevel: 'trace' });
  const c = scenario.cluster;
  const { getJson, exists, canaryPhase, setUp, optIn } = scenario;

  it('injects the proxy on opt-in, and the pods come up with it', async () => {
    const ns = 'opt-in';
    await optIn(ns);
    const deployment = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(deployment.spec.template.spec.containers.map((c) => c.name)).toEqual(['podinfo', 'sluice-proxy']);
    expect(deployment.metadata.annotations?.['sluice.dev/stable-revision']).toMatch(/^[0-9a-f]{10}$/);
    const pods = await getJson<{
      items: { spec: { containers: { name: string }[] }; status: { phase: string } }[];
    }>(ns, 'pods');
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.spec.containers.map((c) => c.name)).toContain('sluice-proxy');
      expect(pod.status.phase).toBe('Running');
    }
  });

  it('rejects an invalid annotation with a message naming it and what is allowed', async () => {
    const ns = 'invalid';
    await optIn(ns);
    const result = await c().tryKubectl([
      'annotate',
      'deployment/podinfo',
      '-n',
      ns,
      'sluice.dev/step-weight=250',
      '--overwrite',
    ]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('sluice.dev/step-weight');
    expect(result.stderr).toContain('1 to 100');
    const unchanged = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(unchanged.metadata.annotations?.['sluice.dev/step-weight']).toBeUndefined();
  });

  it('holds an image change, steps the weight, and promotes it', async () => {
    const ns = 'promote';
    await setUp(ns);
    const watch = watchCanaries(c(), ns);
    try {
      await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
      // The spec says what the user asked for; the Deployment is paused, so its pods stay on 1.0.
      const held = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
      expect(imageOf(held)).toBe('example/podinfo:2.0');
      expect(held.spec.paused).toBe(true);
      expect(held.metadata.annotations?.['sluice.dev/candidate-revision']).toMatch(/^[0-9a-f]{10}$/);
      expect(held.metadata.annotations?.['sluice.dev/paused-by']).toBe('sluice');
      expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);

      const canaryDeployment = await scenario.canaryDeployment<DeploymentJson>(ns);
      expect(imageOf(canaryDeployment)).toBe('example/podinfo:2.0');
      expect(canaryDeployment.spec.template.metadata?.labels).toMatchObject({
        app: 'podinfo-canary',
        'sluice.dev/role': 'canary',
      });
      expect(await exists(ns, 'service/podinfo-canary')).toBe(true);
      await eventually('the release to progress', () => canaryPhase(ns, 'Progressing'), {
        timeoutMs: 60_000,
      });

      await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
      const promoted = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
      expect(imageOf(promoted)).toBe('example/podinfo:2.0');
      expect(promoted.spec.paused).toBeFalsy();
      expect(promoted.metadata.annotations?.['sluice.dev/paused-by']).toBeUndefined();
      await scenario.rolledOut(ns);
      expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:2.0', 'example/podinfo:2.0']);
      expect(promoted.spec.template.spec.containers.map((c) => c.name)).toContain('sluice-proxy');
      expect(promoted.metadata.annotations?.['sluice.dev/candidate-revision']).toBeUndefined();
      const canary = await getJson<CanaryJson>(ns, 'canary/podinfo');
      expect(canary.status?.phase).toBe('Succeeded');
      expect(canary.status?.stableRevision).toBe(
        held.metadata.annotations?.['sluice.dev/candidate-revision'],
      );
      await eventually(
        'the canary objects to be deleted',
        async () =>
          !(await exists(ns, 'deployment/podinfo-canary')) && !(await exists(ns, 'service/podinfo-canary'))
            ? true
            : undefined,
        { timeoutMs: 60_000 },
      );
      const totals = scenario.data().load.totals();
      expect(totals?.canaryRequests).toBeGreaterThan(0);
      expect(totals?.testCanaryRequests).toBeGreaterThan(0);
    } finally {
      watch.stop();
    }
    const weights = watch.rows().map((row) => row.weight);
    expect(weights).toContain('20');
    expect(weights).toContain('50');
    expect(watch.rows().map((row) => row.status)).toContain('Succeeded');
  });

  it('rolls a failing canary back without touching the primary, and starts it again only on retry', async () => {
    const ns = 'rollback';
    await setUp(ns, { canary: { errorRate: 0.6, latencyMs: 0 } });
    const replicaSets = await scenario.replicaSets(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    const failed = await eventually('the rollback', () => canaryPhase(ns, 'Failed'), { timeoutMs: 120_000 });
    expect(failed.status?.failedChecks).toBe(2);
    expect(failed.status?.lastAnalysis?.result).toBe('failed');
    expect(failed.status?.conditions?.find((c) => c.type === 'Promoted')?.status).toBe('False');
    expect(failed.status?.outcome?.reason).toBe('RolledBack');
    // As Argo Rollouts leaves a degraded Rollout: the spec as written, paused; the pods on the stable version.
    const after = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(imageOf(after)).toBe('example/podinfo:2.0');
    expect(after.spec.paused).toBe(true);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);
    expect(await scenario.replicaSets(ns)).toEqual(replicaSets);
    await eventually(
      'the canary objects to be deleted',
      async () => (!(await exists(ns, 'deployment/podinfo-canary')) ? true : undefined),
      { timeoutMs: 60_000 },
    );

    // Re-applying the same spec keeps the same candidate, which stays failed once the controller has seen it.
    await c().apply(podinfo(ns, 'example/podinfo:2.0'));
    await scenario.controllerCaughtUp(ns);
    expect((await getJson<CanaryJson>(ns, 'canary/podinfo')).status?.phase).toBe('Failed');
    expect(await exists(ns, 'deployment/podinfo-canary')).toBe(false);

    const status = await scenario.installed().kubectlSluice(['status', 'podinfo', '-n', ns]);
    expect(status.stdout).toContain('Failed');
    expect(status.stdout).toContain('stays paused with revision');
    const retry = await scenario.installed().kubectlSluice(['retry', 'podinfo', '-n', ns]);
    expect(retry.exitCode, retry.stderr).toBe(0);
    await eventually('the release to start again', () => canaryPhase(ns, 'Progressing'), {
      timeoutMs: 60_000,
    });
    await eventually(
      'the action to be consumed',
      async () => {
        const d = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
        return d.metadata.annotations?.['sluice.dev/action'] === undefined ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
  });

  // kwok plays these images' pods as a kubelet would report them (test/support/kwok-stages.ts).
  const cannotStart = [
    { tag: 'crashloop', reason: /CrashLoopBackOff, last exit code 1/ },
    { tag: 'unpullable', reason: /ErrImagePull|ImagePullBackOff/ },
    { tag: 'never-ready', reason: /containers with unready status: \[podinfo\]/ },
  ];
  it.each(cannotStart)(
    'rolls back a canary that cannot start ($tag) within two intervals, with the pod’s reason',
    async ({ tag, reason }) => {
      const ns = `cannot-start-${tag}`;
      await setUp(ns);
      const replicaSets = await scenario.replicaSets(ns);
      const started = Date.now();
      await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, `podinfo=example/podinfo:${tag}`]);
      const failed = await eventually('the rollback', () => canaryPhase(ns, 'Failed'), { timeoutMs: 60_000 });
      // Two intervals of 5 s, plus the canary's creation and one controller tick.
      expect(Date.now() - started).toBeLessThan(2 * 5_000 + 5_000);
      expect(failed.status?.outcome?.message).toMatch(reason);
      expect(failed.status?.outcome?.message).toContain('did not become ready within 10s');
      const events = await scenario.eventMessages(ns, 'RolledBack');
      expect(events).toMatch(reason);
      await eventually(
        'the canary objects to be deleted',
        async () => (!(await exists(ns, 'deployment/podinfo-canary')) ? true : undefined),
        { timeoutMs: 60_000 },
      );
      expect(await scenario.replicaSets(ns)).toEqual(replicaSets);
      expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);
    },
  );

  /**
   * Fails when any of `values`, in clear or base64, is in the webhook's or the controller's output (stdout
   * and stderr, at trace level), an Event, an annotation of any object of the namespace, the Canary's status,
   * or the controller's or the proxy's /metrics.
   */
  const expectSecretNowhere = async (ns: string, values: readonly string[]): Promise<void> => {
    const get = async (what: string): Promise<string> => c().kubectl(['get', what, '-n', ns, '-o', 'json']);
    const objects = JSON.parse(
      await get('deployments,replicasets,pods,services,configmaps,secrets,canaries'),
    ) as { items: { kind: string; metadata: { name: string; annotations?: unknown } }[] };
    const places: Record<string, string> = {
      'webhook output': scenario.installed().webhook.output(),
      'controller output': scenario.controller().output(),
      Events: await get('events'),
      'Canary status': JSON.stringify((await getJson<CanaryJson>(ns, 'canary/podinfo')).status),
      'controller /metrics': await (
        await fetch(`http://127.0.0.1:${scenario.controller().port}/metrics`)
      ).text(),
      'proxy /metrics': await (
        await fetch(`http://127.0.0.1:${scenario.data().proxy.adminPort}/metrics`)
      ).text(),
    };
    for (const o of objects.items) {
      places[`annotations of ${o.kind} ${o.metadata.name}`] = JSON.stringify(o.metadata.annotations ?? {});
    }
    expect(scenario.controller().logs.length).toBeGreaterThan(0);
    for (const value of values) {
      const forms = [value, Buffer.from(value).toString('base64').replace(/=+$/, '')];
      for (const [place, text] of Object.entries(places)) {
        for (const form of forms) expect(text.includes(form), `${form} in the ${place}`).toBe(false);
      }
    }
  };

  const secretValue = (what: string): string => `s3cret-${what}-${randomBytes(6).toString('hex')}`;
  const configCases: {
    kind: ConfigUse['kind'];
    stable: string;
    candidate: string;
    decode: (data: Record<string, string> | undefined) => unknown;
  }[] = [
    { kind: 'ConfigMap', stable: 'hello', candidate: 'hola', decode: (data) => data },
    {
      kind: 'Secret',
      stable: secretValue('stable'),
      candidate: secretValue('candidate'),
      decode: (data) =>
        Object.fromEntries(
          Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
        ),
    },
  ];
  it.each(configCases)(
    'holds a $kind change, gives the canary a copy of it, and writes it back on promotion',
    async ({ kind, stable, candidate, decode }) => {
      const ns = kind.toLowerCase();
      const ref = `${ns}/podinfo-config`;
      const encode = (text: string): string =>
        kind === 'Secret' ? Buffer.from(text).toString('base64') : text;
      await setUp(ns, { config: { kind, name: 'podinfo-config' }, greeting: stable });
      await eventually(
        `the ${kind} to be tracked`,
        async () => {
          const cm = await getJson<ConfigMapJson>(ns, ref);
          return cm.metadata.labels?.['sluice.dev/tracked'] === 'true' ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
      await c().kubectl([
        'patch',
        ref,
        '-n',
        ns,
        '-p',
        JSON.stringify({ data: { GREETING: encode(candidate) } }),
      ]);
      const held = await getJson<ConfigMapJson>(ns, ref);
      expect(decode(held.data)).toEqual({ GREETING: stable });
      const payload = held.metadata.annotations?.['sluice.dev/candidate'] ?? '';
      expect(held.metadata.annotations?.['sluice.dev/candidate-revision']).toMatch(/^[0-9a-f]{10}$/);
      // A held Secret value never appears in an annotation in clear.
      if (kind === 'Secret') expect(payload.startsWith('sealed.')).toBe(true);

      const copy = await eventually(
        `the canary copy of the ${kind}`,
        async () =>
          (await exists(ns, `${ref}-canary`)) ? getJson<ConfigMapJson>(ns, `${ref}-canary`) : undefined,
        { timeoutMs: 60_000 },
      );
      expect(decode(copy.data)).toEqual({ GREETING: candidate });
      const canaryDeployment = await scenario.canaryDeployment<DeploymentJson>(ns);
      const from = canaryDeployment.spec.template.spec.containers.find((c) => c.name === 'podinfo')
        ?.envFrom?.[0];
      expect((from?.configMapRef ?? from?.secretRef)?.name).toBe('podinfo-config-canary');
      expect(imageOf(canaryDeployment)).toBe('example/podinfo:1.0');

      await eventually('the release to progress', () => canaryPhase(ns, 'Progressing'), {
        timeoutMs: 60_000,
      });
      if (kind === 'Secret') await expectSecretNowhere(ns, [stable, candidate]);
      await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
      const promoted = await getJson<ConfigMapJson>(ns, ref);
      expect(decode(promoted.data)).toEqual({ GREETING: candidate });
      expect(promoted.metadata.annotations?.['sluice.dev/candidate-revision']).toBeUndefined();
      const primary = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
      expect(
        primary.spec.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
      ).toBeDefined();
      await eventually(
        'the copy to be deleted',
        async () => (!(await exists(ns, `${ref}-canary`)) ? true : undefined),
        { timeoutMs: 60_000 },
      );
      if (kind === 'Secret') await expectSecretNowhere(ns, [stable, candidate]);
    },
  );

  it('resumes a release at the weight it had when the controller was killed', async () => {
    const ns = 'resume';
    await setUp(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    const running = await eventually(
      'weight 20',
      async () => {
        const canary = await canaryPhase(ns, 'Progressing');
        return canary?.status?.canaryWeight === 20 ? canary : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const controller = await scenario.restartController({ kill: true });
    const resumed = await getJson<CanaryJson>(ns, 'canary/podinfo');
    expect(resumed.status?.canaryWeight).toBeGreaterThanOrEqual(20);
    expect(resumed.status?.candidateRevision).toBe(running.status?.candidateRevision);
    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const events = controller.logs.filter((l) => l['msg'] === 'releaseEvent').map((l) => l['reason']);
    expect(events).not.toContain('CanaryStarted');
    expect(events).toContain('Promoted');
  });

  it('removes the proxy and cleans up when a Deployment opts out mid-release', async () => {
    const ns = 'opt-out';
    await setUp(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    await eventually('the release to progress', () => canaryPhase(ns, 'Progressing'), { timeoutMs: 60_000 });
    await scenario.canaryDeployment(ns);
    await c().kubectl(['annotate', 'deployment/podinfo', '-n', ns, 'sluice.dev/canary-']);
    // Opted out, the change is the user's to roll out as written: the pause sluice set is lifted.
    const out = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(out.spec.template.spec.containers.map((c) => c.name)).toEqual(['podinfo']);
    expect(out.metadata.annotations?.['sluice.dev/candidate-revision']).toBeUndefined();
    expect(out.spec.paused).toBeFalsy();
    await eventually(
      'the canary objects and the Canary to be deleted',
      async () =>
        !(await exists(ns, 'deployment/podinfo-canary')) &&
        !(await exists(ns, 'service/podinfo-canary')) &&
        !(await exists(ns, 'canary/podinfo'))
          ? true
          : undefined,
      { timeoutMs: 60_000 },
    );
    await scenario.rolledOut(ns);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:2.0', 'example/podinfo:2.0']);
  });

  it('runs two replicas: one leads, both serve the same routes, and a stopped leader hands over at once', async () => {
    const ns = 'replicas';
    await setUp(ns);
    const controller = scenario.controller();
    const second = await scenario.startReplica('replica-b');
    try {
      await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
      await eventually(
        'weight 20',
        async () => {
          const canary = await canaryPhase(ns, 'Progressing');
          return canary?.status?.canaryWeight === 20 ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
      const routeOf = async (port: number): Promise<{ version: string; canary: { weight: number } | null }> =>
        (await fetch(`http://127.0.0.1:${port}/v1/routes/${ns}/podinfo`)).json() as Promise<{
          version: string;
          canary: { weight: number } | null;
        }>;
      const fromSecond = await eventually(
        'the second replica to serve the route',
        async () => {
          const route = await routeOf(second.port);
          return route.canary?.weight === 20 ? route : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect((await routeOf(controller.port)).version).toBe(fromSecond.version);
      expect(second.logs.some((l) => l['msg'] === 'leadership' && l['leading'] === true)).toBe(false);
      const metrics = await (await fetch(`http://127.0.0.1:${controller.port}/metrics`)).text();
      expect(metrics).toContain(`sluice_canary_weight{namespace="${ns}",deployment="podinfo"} 20`);
      expect(metrics).toContain('sluice_controller_leader 1');

      // The stopped leader gives the Lease up, so the other takes over without waiting for it to expire.
      expect(await controller.stop()).toBe(0);
      expect(controller.logs.map((l) => l['msg'])).toContain('leaseReleased');
      await second.waitForLog('leadership', 10_000);
      await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
    } finally {
      await second.stop();
    }
  });

  it('warns about a Service that sends traffic to the app past the proxy', async () => {
    const ns = 'bypass';
    await setUp(ns);
    await c().apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'podinfo-direct', namespace: ns },
      spec: { selector: { app: 'podinfo' }, ports: [{ port: 80, targetPort: 9898 }] },
    });
    const condition = await eventually(
      'ProxyReachable to be False',
      async () => {
        const canary = await getJson<CanaryJson>(ns, 'canary/podinfo');
        const found = canary.status?.conditions?.find((c) => c.type === 'ProxyReachable');
        return found?.status === 'False' ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(condition.reason).toBe('ServiceBypassesProxy');
    const events = await scenario.eventMessages(ns, 'ServiceBypassesProxy');
    expect(events).toContain('podinfo-direct');
    expect(events).toContain('set its targetPort to http');
  });

  it('denies a promotion marker written by anyone but the controller', async () => {
    const ns = 'forged';
    await optIn(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:3.0']);
    const held = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    const candidate = held.metadata.annotations?.['sluice.dev/candidate-revision'] ?? '';
    expect(candidate).toMatch(/^[0-9a-f]{10}$/);
    const forged = await c().tryKubectl([
      'annotate',
      'deployment/podinfo',
      '-n',
      ns,
      `sluice.dev/promote=${candidate}`,
      '--as=mallory',
      '--as-group=system:masters',
    ]);
    expect(forged.exitCode).not.toBe(0);
    expect(forged.stderr).toContain('sluice promote');
    expect((await getJson<DeploymentJson>(ns, 'deployment/podinfo')).spec.paused).toBe(true);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);
  });
});
