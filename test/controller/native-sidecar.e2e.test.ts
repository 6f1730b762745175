import { describe, expect, it } from 'vitest';
import {
  imageOf,
  RELEASE_ANNOTATIONS,
  useReleaseScenarios,
  type CanaryJson,
  type DeploymentJson,
} from '../support/podinfo-release.js';

// The proxy as a Kubernetes native sidecar (an init container with restartPolicy Always) on the test
// control plane, whose API server (1.36) the webhook asks for its version at start (`--native-sidecar
// auto`). kwok plays the pods: it runs no container, so these tests check the objects, what a kubelet
// would be given.

interface Container {
  name: string;
  image: string;
  restartPolicy?: string;
  startupProbe?: { httpGet?: { path?: string; port?: string | number } };
  env?: { name: string; value?: string }[];
}

interface TemplateJson {
  metadata?: { labels?: Record<string, string> };
  spec: { containers: Container[]; initContainers?: Container[] };
}

interface WithTemplate {
  metadata: { annotations?: Record<string, string> };
  spec: { paused?: boolean; template: TemplateJson };
}

interface PodJson {
  metadata: { labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: Container[]; initContainers?: Container[] };
  status?: {
    phase?: string;
    initContainerStatuses?: { name: string; started?: boolean; state?: { running?: unknown } }[];
  };
}

const names = (containers: readonly Container[] | undefined): string[] =>
  (containers ?? []).map((c) => c.name);

const envOf = (container: Container | undefined, name: string): string | undefined =>
  container?.env?.find((e) => e.name === name)?.value;

/** The proxy where a native sidecar sits: the last init container, restarted always, started once ready. */
function expectNativeSidecar(template: TemplateJson): Container {
  expect(names(template.spec.containers)).toEqual(['podinfo']);
  const proxy = template.spec.initContainers?.at(-1);
  expect(proxy).toMatchObject({
    name: 'sluice-proxy',
    restartPolicy: 'Always',
    startupProbe: { httpGet: { path: '/readyz', port: 'sluice-admin' } },
  });
  return proxy as Container;
}

describe('the proxy as a native sidecar, on a real control plane', () => {
  const scenario = useReleaseScenarios({ webhookAsksCluster: true });
  const c = scenario.cluster;
  const { getJson, exists, setUp } = scenario;

  const primaryPods = async (ns: string): Promise<PodJson[]> =>
    (await getJson<{ items: PodJson[] }>(ns, 'pods')).items.filter(
      (p) =>
        p.metadata.labels?.['sluice.dev/role'] !== 'canary' && p.metadata.deletionTimestamp === undefined,
    );

  it('injects the proxy as an init container, and a release runs and promotes with it', async () => {
    const ns = 'native-release';
    const decided = await scenario.installed().webhook.waitForLog('nativeSidecarPlacement');
    expect(decided).toMatchObject({ mode: 'auto', byDefault: true });
    expect(decided['serverVersion']).toMatch(/^v1\.\d+\./);
    await setUp(ns);
    const deployment = await getJson<WithTemplate>(ns, 'deployment/podinfo');
    expectNativeSidecar(deployment.spec.template);
    for (const pod of await primaryPods(ns)) {
      expect(names(pod.spec.containers)).toEqual(['podinfo']);
      expect(names(pod.spec.initContainers)).toEqual(['sluice-proxy']);
      expect(pod.status?.initContainerStatuses?.[0]).toMatchObject({ name: 'sluice-proxy', started: true });
      expect(pod.status?.phase).toBe('Running');
    }

    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    const held = await getJson<WithTemplate & DeploymentJson>(ns, 'deployment/podinfo');
    expect(held.spec.paused).toBe(true);
    expectNativeSidecar(held.spec.template);
    const canaryDeployment = await scenario.canaryDeployment<WithTemplate>(ns);
    // The controller read the proxy from the init containers and gave the canary the same one.
    const canaryProxy = expectNativeSidecar(canaryDeployment.spec.template);
    expect(envOf(canaryProxy, 'SLUICE_ROLE')).toBe('canary');
    expect(canaryProxy.image).toBe(held.spec.template.spec.initContainers?.at(-1)?.image);
    await scenario.releaseRunning(ns);

    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const promoted = await getJson<WithTemplate & DeploymentJson>(ns, 'deployment/podinfo');
    expect(imageOf(promoted)).toBe('example/podinfo:2.0');
    expect(promoted.spec.paused).toBeFalsy();
    expectNativeSidecar(promoted.spec.template);
    await scenario.rolledOut(ns);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:2.0', 'example/podinfo:2.0']);
    const canary = await getJson<CanaryJson>(ns, 'canary/podinfo');
    expect(canary.status?.phase).toBe('Succeeded');
    expect(scenario.data().load.totals()?.canaryRequests).toBeGreaterThan(0);
  });

  it('moves the proxy of a Deployment injected the old way on its next change, without a new revision', async () => {
    const ns = 'native-migrate';
    await setUp(ns, { annotations: { ...RELEASE_ANNOTATIONS, 'sluice.dev/native-sidecar': 'false' } });
    const before = await getJson<WithTemplate>(ns, 'deployment/podinfo');
    expect(names(before.spec.template.spec.containers)).toEqual(['podinfo', 'sluice-proxy']);
    expect(before.spec.template.spec.initContainers).toBeUndefined();
    const stable = before.metadata.annotations?.['sluice.dev/stable-revision'];
    expect(stable).toMatch(/^[0-9a-f]{10}$/);
    const replicaSets = await scenario.replicaSets(ns);

    // The next change: here the annotation goes, as after a webhook upgrade any change would do.
    await c().kubectl(['annotate', 'deployment/podinfo', '-n', ns, 'sluice.dev/native-sidecar-']);
    const after = await getJson<WithTemplate>(ns, 'deployment/podinfo');
    expectNativeSidecar(after.spec.template);
    expect(after.metadata.annotations?.['sluice.dev/stable-revision']).toBe(stable);
    expect(after.metadata.annotations?.['sluice.dev/candidate-revision']).toBeUndefined();
    expect(after.spec.paused).toBeFalsy();

    // The template changed, so the Deployment rolls its pods once, to the same revision with the proxy
    // moved; the controller starts no release for it.
    await scenario.rolledOut(ns);
    expect((await scenario.replicaSets(ns)).length).toBe(replicaSets.length + 1);
    for (const pod of await primaryPods(ns)) {
      expect(names(pod.spec.containers)).toEqual(['podinfo']);
      expect(names(pod.spec.initContainers)).toEqual(['sluice-proxy']);
    }
    await scenario.controllerCaughtUp(ns);
    const canary = await getJson<CanaryJson>(ns, 'canary/podinfo');
    expect(canary.status?.phase).toBe('Initialized');
    expect(canary.status?.stableRevision).toBe(stable);
    expect(canary.status?.candidateRevision ?? null).toBeNull();
    expect(await scenario.eventMessages(ns, 'CanaryStarted')).toBe('');
    expect(await exists(ns, 'deployment/podinfo-canary')).toBe(false);
  });

  it('keeps the proxy where the stable pods have it while a change is held, so a revert rolls nothing', async () => {
    const ns = 'native-revert';
    await setUp(ns, { annotations: { ...RELEASE_ANNOTATIONS, 'sluice.dev/native-sidecar': 'false' } });
    const replicaSets = await scenario.replicaSets(ns);
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    await scenario.releaseRunning(ns);
    // Native sidecars asked for while the change is held: the proxy stays, in the spec and in the canary.
    await c().kubectl(['annotate', 'deployment/podinfo', '-n', ns, 'sluice.dev/native-sidecar-']);
    const held = await getJson<WithTemplate>(ns, 'deployment/podinfo');
    expect(held.spec.paused).toBe(true);
    expect(names(held.spec.template.spec.containers)).toEqual(['podinfo', 'sluice-proxy']);

    // The revert lands on the stable ReplicaSet's template: unpaused, and no ReplicaSet is added.
    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:1.0']);
    await scenario.expectReverted(ns, replicaSets);
    const reverted = await getJson<WithTemplate>(ns, 'deployment/podinfo');
    expect(names(reverted.spec.template.spec.containers)).toEqual(['podinfo', 'sluice-proxy']);

    // The next change moves it.
    await c().kubectl(['annotate', 'deployment/podinfo', '-n', ns, 'example.com/owner=shop']);
    expectNativeSidecar((await getJson<WithTemplate>(ns, 'deployment/podinfo')).spec.template);
  });

  it('hands the app protocol to the proxy, and refuses an app port that serves TLS', async () => {
    const ns = 'native-protocol';
    await scenario.optIn(ns);
    await c().kubectl(['annotate', 'deployment/podinfo', '-n', ns, 'sluice.dev/protocol=grpc']);
    const grpc = await getJson<WithTemplate>(ns, 'deployment/podinfo');
    expect(envOf(expectNativeSidecar(grpc.spec.template), 'SLUICE_APP_PROTOCOL')).toBe('grpc');

    const refused = await c().tryKubectl([
      'annotate',
      'deployment/podinfo',
      '-n',
      ns,
      'sluice.dev/protocol=https',
      '--overwrite',
    ]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('Deployment podinfo in namespace native-protocol');
    expect(refused.stderr).toContain('sluice.dev/protocol is "https"');
    expect(refused.stderr).toContain('Serve cleartext');
    const unchanged = await getJson<WithTemplate>(ns, 'deployment/podinfo');
    expect(unchanged.metadata.annotations?.['sluice.dev/protocol']).toBe('grpc');
  });
});
