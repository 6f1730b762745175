import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fluxApply, fluxLoop, helm, type FluxRound } from '../support/gitops.js';
import {
  imageOf,
  podinfo,
  RELEASE_ANNOTATIONS,
  useReleaseScenarios,
  type DeploymentJson,
} from '../support/podinfo-release.js';
import { eventually } from '../support/eventually.js';

// sluice under the clients GitOps users run: Helm (v4, built from Go modules) and Flux's own applier
// (fluxcd/pkg/ssa, as kustomize-controller applies). The spec always says what Git or the chart says, so
// these clients see no drift during a release, and their revert (helm rollback, a Git revert) ends it.

let workDir = '';
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'sluice-gitops-release-'));
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A chart of podinfo with its image from values, opted in through the manifest's annotations. */
async function writeChart(dir: string, namespace: string): Promise<void> {
  await mkdir(join(dir, 'templates'), { recursive: true });
  await writeFile(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: podinfo\nversion: 0.1.0\n');
  await writeFile(join(dir, 'values.yaml'), 'image: example/podinfo:1.0\n');
  const manifest = stringify(podinfo(namespace, '__IMAGE__')).replace('__IMAGE__', '{{ .Values.image }}');
  await writeFile(join(dir, 'templates/deployment.yaml'), manifest);
}

/** A GitOps repository's directory: podinfo, and a ConfigMap when given, as YAML files. */
async function writeRepo(dir: string, objects: readonly object[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'app.yaml'), objects.map((o) => stringify(o)).join('---\n'));
}

/** Every object's action of every round after the first `skip`, one string each, to compare at once. */
const actionsOf = (rounds: readonly FluxRound[], skip = 0): string[] =>
  rounds
    .slice(skip)
    .flatMap((r) => [
      ...r.actions.map((a) => `${a.object} ${a.action}`),
      ...(r.error === undefined ? [] : [`error ${r.error}`]),
    ]);

describe('releases under Helm and Flux', () => {
  const scenario = useReleaseScenarios();
  const c = scenario.cluster;
  const { getJson, canaryPhase, setUp, releaseRunning, expectReverted } = scenario;

  it('starts a release on helm upgrade, returns from helm at once, and ends it on helm rollback', async () => {
    const ns = 'helm';
    const chart = join(workDir, 'chart');
    await writeChart(chart, ns);
    await setUp(ns, { install: () => helm(c(), ['install', 'podinfo', chart, '-n', ns]) });
    const replicaSets = await scenario.replicaSets(ns);

    // Helm v4's waiter skips a paused Deployment: `--wait` returns as soon as the change is admitted.
    const upgrade = await helm(c(), [
      'upgrade',
      'podinfo',
      chart,
      '-n',
      ns,
      '--set',
      'image=example/podinfo:2.0',
      '--wait',
      '--timeout=60s',
    ]);
    expect(upgrade).toContain('STATUS: deployed');
    const held = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(imageOf(held)).toBe('example/podinfo:2.0');
    expect(held.spec.paused).toBe(true);
    await releaseRunning(ns);
    // A pipeline's `kubectl rollout status` waits while the release runs: the paused Deployment has not rolled.
    const rollout = await c().tryKubectl([
      'rollout',
      'status',
      'deployment/podinfo',
      '-n',
      ns,
      '--timeout=3s',
    ]);
    expect(rollout.exitCode).not.toBe(0);
    expect(rollout.stdout).toContain('0 out of 2 new replicas have been updated');

    await helm(c(), ['rollback', 'podinfo', '1', '-n', ns]);
    await expectReverted(ns, replicaSets);
    expect(await helm(c(), ['history', 'podinfo', '-n', ns])).toContain('Rollback to 1');
  });

  it('ends a release when Flux applies the reverted manifests', async () => {
    const ns = 'flux-revert';
    const repo = join(workDir, ns);
    await writeRepo(repo, [podinfo(ns, 'example/podinfo:1.0')]);
    await setUp(ns, { install: () => fluxApply(c(), repo) });
    const replicaSets = await scenario.replicaSets(ns);

    await writeRepo(repo, [podinfo(ns, 'example/podinfo:2.0')]);
    expect(await fluxApply(c(), repo)).toEqual([
      { object: `Deployment/${ns}/podinfo`, action: 'configured' },
    ]);
    await releaseRunning(ns);
    // Flux's drift detection: live equals Git during the release.
    expect(await fluxApply(c(), repo, { dryRun: true })).toEqual([
      { object: `Deployment/${ns}/podinfo`, action: 'unchanged' },
    ]);

    await writeRepo(repo, [podinfo(ns, 'example/podinfo:1.0')]);
    expect(await fluxApply(c(), repo)).toEqual([
      { object: `Deployment/${ns}/podinfo`, action: 'configured' },
    ]);
    await expectReverted(ns, replicaSets);
    expect(await fluxApply(c(), repo)).toEqual([{ object: `Deployment/${ns}/podinfo`, action: 'unchanged' }]);
  });

  it('lets a GitOps loop re-apply every 2 s through a whole release with no drift, and promotes', async () => {
    const ns = 'flux-loop';
    const repo = join(workDir, ns);
    await writeRepo(repo, [podinfo(ns, 'example/podinfo:1.0')]);
    await setUp(ns, { install: () => fluxApply(c(), repo) });
    const loop = fluxLoop(c(), repo, 2_000);
    try {
      await loop.waitForRounds(2);
      await writeRepo(repo, [podinfo(ns, 'example/podinfo:2.0')]);
      const changed = await eventually(
        'the loop to apply 2.0',
        async () => {
          const rounds = loop.rounds();
          const at = rounds.findIndex((r) => r.actions.some((a) => a.action === 'configured'));
          return at === -1 ? undefined : at;
        },
        { timeoutMs: 60_000 },
      );
      await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
      const rounds = await loop.waitForRounds(changed + 3);
      // Every round after the one that applied 2.0, through the whole release and its promotion, saw no drift.
      const after = actionsOf(rounds, changed + 1);
      expect(after.length).toBeGreaterThan(3);
      expect(new Set(after)).toEqual(new Set([`Deployment/${ns}/podinfo unchanged`]));
    } finally {
      await loop.stop();
    }
    await scenario.rolledOut(ns);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:2.0', 'example/podinfo:2.0']);
  });

  it('keeps a GitOps loop free of drift after a rollback, and says why the spec differs from the pods', async () => {
    const ns = 'flux-rollback';
    const repo = join(workDir, ns);
    await writeRepo(repo, [podinfo(ns, 'example/podinfo:1.0')]);
    await setUp(ns, { install: () => fluxApply(c(), repo), canary: { errorRate: 0.6, latencyMs: 0 } });
    const loop = fluxLoop(c(), repo, 2_000);
    try {
      await loop.waitForRounds(1);
      await writeRepo(repo, [podinfo(ns, 'example/podinfo:2.0')]);
      const failed = await eventually('the rollback', () => canaryPhase(ns, 'Failed'), {
        timeoutMs: 120_000,
      });
      expect(failed.status?.outcome?.reason).toBe('RolledBack');
      const seen = loop.rounds().length;
      const rounds = await loop.waitForRounds(seen + 3);
      expect(new Set(actionsOf(rounds, seen))).toEqual(new Set([`Deployment/${ns}/podinfo unchanged`]));
    } finally {
      await loop.stop();
    }
    const deployment = await getJson<DeploymentJson>(ns, 'deployment/podinfo');
    expect(imageOf(deployment)).toBe('example/podinfo:2.0');
    expect(deployment.spec.paused).toBe(true);
    expect(await scenario.primaryPodImages(ns)).toEqual(['example/podinfo:1.0', 'example/podinfo:1.0']);
    const status = await scenario.installed().kubectlSluice(['status', 'podinfo', '-n', ns]);
    expect(status.stdout).toContain('stays paused with revision');
    expect(status.stdout).toContain('pods keep running stable revision');
  });

  it('releases and reverts a hash-suffixed ConfigMap through Flux, as a template change', async () => {
    const ns = 'flux-config';
    const repo = join(workDir, ns);
    // What kustomize's configMapGenerator or a Helm checksum does: new data, new name, new template.
    const configMap = (name: string, greeting: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: ns },
      data: { GREETING: greeting },
    });
    const objects = (name: string) => [
      configMap('podinfo-config-5f7c2b', 'hello'),
      configMap('podinfo-config-9d1e4a', 'hola'),
      podinfo(ns, 'example/podinfo:1.0', RELEASE_ANNOTATIONS, { config: { kind: 'ConfigMap', name } }),
    ];
    await writeRepo(repo, objects('podinfo-config-5f7c2b'));
    await setUp(ns, { install: () => fluxApply(c(), repo) });
    const replicaSets = await scenario.replicaSets(ns);

    await writeRepo(repo, objects('podinfo-config-9d1e4a'));
    await fluxApply(c(), repo);
    await releaseRunning(ns);
    const canary = await getJson<DeploymentJson>(ns, 'deployment/podinfo-canary');
    const from = canary.spec.template.spec.containers.find((x) => x.name === 'podinfo')?.envFrom?.[0];
    expect(from?.configMapRef?.name).toBe('podinfo-config-9d1e4a');

    await writeRepo(repo, objects('podinfo-config-5f7c2b'));
    await fluxApply(c(), repo);
    await expectReverted(ns, replicaSets);
  });
});
