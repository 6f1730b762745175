import { describe, expect, it } from 'vitest';
import { encodeCandidate } from '../../src/candidate.js';
import { removeInjection } from '../../src/injection/remove.js';
import type { PodTemplate } from '../../src/pod-template.js';
import { revision } from '../../src/revision.js';
import {
  imageOf,
  podinfo,
  RELEASE_ANNOTATIONS,
  useReleaseScenarios,
  type CanaryJson,
  type ConfigMapJson,
  type DeploymentJson,
} from '../support/podinfo-release.js';
import { eventually } from '../support/eventually.js';

// How people deploy (DESIGN.md, "Held changes"): the spec always says what the user asked for, the Deployment
// is paused while its candidate is released, and the stable template back from any client ends the release.

describe('releases driven by the clients people deploy with', () => {
  const scenario = useReleaseScenarios();
  const c = scenario.cluster;
  const { getJson, exists, canaryPhase, setUp, releaseRunning, expectReverted } = scenario;

  const setImage = (ns: string, image: string) =>
    c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, `podinfo=${image}`]);

  /** `kubectl edit` as a script does it: the whole object read, changed, and written back with replace. */
  async function replaceImage(ns: string, image: string): Promise<void> {
    const object = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    const app = object.spec.template.spec.containers.find((x) => x.name === 'podinfo');
    if (app === undefined) throw new Error('no podinfo container');
    app.image = image;
    await c().kubectl(['replace', '-f', '-'], { stdin: JSON.stringify(object) });
  }

  const clientApply = (ns: string, image: string) => c().apply(podinfo(ns, image));

  const serverSideApply = (ns: string, image: string) =>
    c().kubectl(['apply', '--server-side', '--field-manager=ci-pipeline', '--force-conflicts', '-f', '-'], {
      stdin: JSON.stringify(podinfo(ns, image)),
    });

  const clients: { name: string; ns: string; change: (ns: string, image: string) => Promise<unknown> }[] = [
    { name: 'kubectl set image', ns: 'revert-set-image', change: setImage },
    { name: 'a kubectl edit-style replace', ns: 'revert-replace', change: replaceImage },
    { name: 'client-side kubectl apply', ns: 'revert-apply', change: clientApply },
    { name: 'server-side apply with its own field manager', ns: 'revert-ssa', change: serverSideApply },
  ];

  it.each(clients)('ends the release on a revert made with $name', async ({ ns, change }) => {
    await setUp(ns);
    const replicaSets = await scenario.replicaSets(ns);
    await change(ns, 'example/podinfo:2.0');
    const held = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(imageOf(held)).toBe('example/podinfo:2.0');
    expect(held.spec.paused).toBe(true);
    await releaseRunning(ns);
    await change(ns, 'example/podinfo:1.0');
    await expectReverted(ns, replicaSets);
  });

  it('denies kubectl rollout resume during a release, naming promote and abort; undo is refused by kubectl', async () => {
    const ns = 'resume-denied';
    await setUp(ns);
    // A second revision in the history, so that undo has something to go back to.
    await c().kubectl(['rollout', 'restart', 'deployment/podinfo', '-n', ns]);
    await scenario.rolledOut(ns);
    await setImage(ns, 'example/podinfo:2.0');
    await releaseRunning(ns);
    const resume = await c().tryKubectl(['rollout', 'resume', 'deployment/podinfo', '-n', ns]);
    expect(resume.exitCode).not.toBe(0);
    expect(resume.stderr).toContain('kubectl sluice promote podinfo -n resume-denied');
    expect(resume.stderr).toContain('kubectl sluice abort podinfo -n resume-denied');
    const undo = await c().tryKubectl(['rollout', 'undo', 'deployment/podinfo', '-n', ns]);
    expect(undo.exitCode).not.toBe(0);
    expect(undo.stderr).toContain('you cannot rollback a paused deployment');
    expect((await getJson<DeploymentJson>(ns, 'deployment/podinfo')).spec.paused).toBe(true);
    expect((await canaryPhase(ns, 'Progressing')) !== undefined).toBe(true);
  });

  it('leaves alone a Deployment the user paused without changing its template', async () => {
    const ns = 'user-paused';
    await setUp(ns);
    await c().kubectl(['rollout', 'pause', 'deployment/podinfo', '-n', ns]);
    await scenario.controllerCaughtUp(ns);
    const paused = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(paused.spec.paused).toBe(true);
    expect(paused.metadata.annotations?.['sluice.dev/paused-by']).toBeUndefined();
    await c().kubectl(['rollout', 'resume', 'deployment/podinfo', '-n', ns]);
    expect((await getJson<DeploymentJson>(ns, 'deployment/podinfo')).spec.paused).toBeFalsy();
    expect((await getJson<CanaryJson>(ns, 'canary/podinfo')).status?.phase).toBe('Initialized');
  });

  it('scales the stable ReplicaSet with kubectl scale, and the canary follows the weight', async () => {
    const ns = 'scaling';
    await setUp(ns, {
      replicas: 4,
      annotations: { ...RELEASE_ANNOTATIONS, 'sluice.dev/interval': '10s' },
    });
    await setImage(ns, 'example/podinfo:2.0');
    await eventually(
      'weight 20',
      async () => {
        const canary = await canaryPhase(ns, 'Progressing');
        return canary?.status?.canaryWeight === 20 ? canary : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const canaryReplicas = async (): Promise<number | undefined> =>
      (await getJson<DeploymentJson>(ns, 'deployment/podinfo-canary')).spec.replicas;
    // ceil(4 × 20 / 100) = 1
    expect(await canaryReplicas()).toBe(1);
    await c().kubectl(['scale', 'deployment/podinfo', '-n', ns, '--replicas=10']);
    const scaled = await eventually(
      'the primary to run 10 stable pods',
      async () => {
        const images = await scenario.primaryPodImages(ns);
        return images.length === 10 ? images : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(new Set(scaled)).toEqual(new Set(['example/podinfo:1.0']));
    // ceil(10 × 20 / 100) = 2, then ceil(10 × 50 / 100) = 5 at the next step.
    await eventually(
      'the canary to follow the primary',
      async () => ((await canaryReplicas()) === 2 ? true : undefined),
      { timeoutMs: 60_000 },
    );
    await eventually(
      'the canary to follow the weight',
      async () => {
        const canary = await canaryPhase(ns, 'Progressing');
        return canary?.status?.canaryWeight === 50 && (await canaryReplicas()) === 5 ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
  });

  it('opts in with kubectl annotate, as the README says', async () => {
    const ns = 'annotate-opt-in';
    await c().kubectl(['create', 'namespace', ns]);
    await c().apply(podinfo(ns, 'example/podinfo:1.0', {}));
    await scenario.rolledOut(ns);
    expect(
      (await getJson<DeploymentJson>(ns, 'deployment/podinfo')).spec.template.spec.containers.map(
        (x) => x.name,
      ),
    ).toEqual(['podinfo']);
    await c().kubectl(['annotate', 'deployment/podinfo', '-n', ns, 'sluice.dev/canary=enabled']);
    const injected = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(injected.spec.template.spec.containers.map((x) => x.name)).toEqual(['podinfo', 'sluice-proxy']);
    expect(injected.spec.paused).toBeFalsy();
    expect(injected.metadata.annotations?.['sluice.dev/stable-revision']).toMatch(/^[0-9a-f]{10}$/);
    await scenario.rolledOut(ns);
    const pods = await getJson<{ items: { spec: { containers: { name: string }[] } }[] }>(ns, 'pods');
    for (const pod of pods.items) {
      expect(pod.spec.containers.map((x) => x.name)).toContain('sluice-proxy');
    }
  });

  it('rolls a config-only release back, leaving the ConfigMap’s data as it was', async () => {
    const ns = 'config-rollback';
    const ref = 'configmap/podinfo-config';
    await setUp(ns, {
      canary: { errorRate: 0.6, latencyMs: 0 },
      config: { kind: 'ConfigMap', name: 'podinfo-config' },
    });
    await eventually(
      'the ConfigMap to be tracked',
      async () => {
        const cm = await getJson<ConfigMapJson>(ns, ref);
        return cm.metadata.labels?.['sluice.dev/tracked'] === 'true' ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const replicaSets = await scenario.replicaSets(ns);
    await c().kubectl(['patch', ref, '-n', ns, '-p', JSON.stringify({ data: { GREETING: 'hola' } })]);
    const failed = await eventually('the rollback', () => canaryPhase(ns, 'Failed'), { timeoutMs: 120_000 });
    expect(failed.status?.outcome?.reason).toBe('RolledBack');
    const config = await getJson<ConfigMapJson>(ns, ref);
    expect(config.data).toEqual({ GREETING: 'hello' });
    await eventually(
      'the canary copy to be deleted',
      async () => (!(await exists(ns, `${ref}-canary`)) ? true : undefined),
      { timeoutMs: 60_000 },
    );
    expect(await scenario.replicaSets(ns)).toEqual(replicaSets);
  });

  it('cancels a config release when kubectl apply brings the old data back', async () => {
    const ns = 'config-revert';
    const ref = 'configmap/podinfo-config';
    const configMap = (greeting: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'podinfo-config', namespace: ns },
      data: { GREETING: greeting },
    });
    await setUp(ns, { config: { kind: 'ConfigMap', name: 'podinfo-config' } });
    await c().apply(configMap('hello'));
    await eventually(
      'the ConfigMap to be tracked',
      async () => {
        const cm = await getJson<ConfigMapJson>(ns, ref);
        return cm.metadata.labels?.['sluice.dev/tracked'] === 'true' ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
    await c().apply(configMap('hola'));
    await releaseRunning(ns);
    await c().apply(configMap('hello'));
    const canary = await eventually(
      'the release to end as Reverted',
      async () => {
        const found = await getJson<CanaryJson>(ns, 'canary/podinfo');
        return found.status?.outcome?.reason === 'Reverted' ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(canary.status?.phase).toBe('Initialized');
    const config = await getJson<ConfigMapJson>(ns, ref);
    expect(config.data).toEqual({ GREETING: 'hello' });
    expect(config.metadata.annotations?.['sluice.dev/candidate']).toBeUndefined();
  });

  it('carries on a release held by the earlier design once the new webhook and controller run', async () => {
    const ns = 'upgrade';
    await setUp(ns);
    // The earlier webhook's hold, written while no controller runs and with no webhook in the way: the
    // stable template kept in the spec, the candidate in sluice.dev/candidate.
    await scenario.restartController({
      meanwhile: async () => {
        await c().kubectl(['delete', 'mutatingwebhookconfiguration', 'sluice-webhook']);
        try {
          const live = await getJson<{ spec: { template: PodTemplate } }>(ns, 'deployment/podinfo');
          const held = removeInjection(live.spec.template);
          const app = held.spec.containers.find((x) => x.name === 'podinfo');
          if (app === undefined) throw new Error('no podinfo container');
          app.image = 'example/podinfo:2.0';
          const candidate = revision(held);
          await c().kubectl([
            'annotate',
            'deployment/podinfo',
            '-n',
            ns,
            `sluice.dev/candidate-revision=${candidate}`,
            `sluice.dev/candidate=${encodeCandidate({ revision: candidate, template: held })}`,
          ]);
        } finally {
          await scenario.installed().registerWebhook();
        }
      },
    });
    const converted = await eventually(
      'the hold to be converted',
      async () => {
        const d = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
        return d.spec.paused === true && d.metadata.annotations?.['sluice.dev/candidate'] === undefined
          ? d
          : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(imageOf(converted)).toBe('example/podinfo:2.0');
    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    await scenario.rolledOut(ns);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:2.0', 'example/podinfo:2.0']);
  });
});
