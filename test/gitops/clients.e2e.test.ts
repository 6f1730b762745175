import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxApplyError, fluxApply, fluxLoop, helm, tryHelm } from '../support/gitops.js';
import { useCluster, type Cluster } from '../support/kube.js';

// The GitOps clients of the e2e tier against the test control plane, before anything of sluice runs on it:
// helm installs, upgrades and rolls back a chart, and Flux's applier creates, leaves alone and reconfigures
// plain Deployments. Tests of sluice under these clients build on what this file shows works.

let workDir = '';
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'sluice-gitops-e2e-'));
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const imageOf = (c: Cluster, namespace: string, name: string): Promise<string> =>
  c.kubectl([
    'get',
    'deployment',
    name,
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.template.spec.containers[0].image}',
  ]);

const pausedOf = (c: Cluster, namespace: string, name: string): Promise<string> =>
  c.kubectl(['get', 'deployment', name, '-n', namespace, '-o', 'jsonpath={.spec.paused}']);

/** A chart of one Deployment, named after the release, running `image` (and `nodeSelector`) from values. */
async function writeChart(dir: string): Promise<void> {
  await mkdir(join(dir, 'templates'), { recursive: true });
  await writeFile(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 0.1.0\n');
  await writeFile(join(dir, 'values.yaml'), 'image: nginx:1.27\n');
  await writeFile(
    join(dir, 'templates/deployment.yaml'),
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: {{ .Release.Name }}',
      'spec:',
      '  replicas: 1',
      '  selector:',
      '    matchLabels: { app: {{ .Release.Name }} }',
      '  template:',
      '    metadata:',
      '      labels: { app: {{ .Release.Name }} }',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: {{ .Values.image }}',
      '      {{- with .Values.nodeSelector }}',
      '      nodeSelector: {{ toJson . }}',
      '      {{- end }}',
      '',
    ].join('\n'),
  );
}

/** A Namespace and a Deployment in it, as one manifest file of a GitOps repository. */
const manifests = (namespace: string, image: string): string =>
  [
    'apiVersion: v1',
    'kind: Namespace',
    'metadata:',
    `  name: ${namespace}`,
    '---',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    `  namespace: ${namespace}`,
    'spec:',
    '  replicas: 1',
    '  selector:',
    '    matchLabels: { app: web }',
    '  template:',
    '    metadata:',
    '      labels: { app: web }',
    '    spec:',
    '      containers:',
    '        - name: web',
    `          image: ${image}`,
    '',
  ].join('\n');

describe('the GitOps clients', () => {
  const started = useCluster();

  describe('helm', () => {
    const ns = 'helm-plain';
    let chart = '';
    beforeAll(async () => {
      chart = join(workDir, 'chart');
      await writeChart(chart);
    });

    it('installs, upgrades and rolls back a release', async () => {
      const c = started();
      await helm(c, ['install', 'web', chart, '-n', ns, '--create-namespace']);
      expect(await imageOf(c, ns, 'web')).toBe('nginx:1.27');

      await helm(c, ['upgrade', 'web', chart, '-n', ns, '--set', 'image=nginx:1.28']);
      expect(await imageOf(c, ns, 'web')).toBe('nginx:1.28');

      await helm(c, ['rollback', 'web', '1', '-n', ns]);
      expect(await imageOf(c, ns, 'web')).toBe('nginx:1.27');

      const history = JSON.parse(await helm(c, ['history', 'web', '-n', ns, '-o', 'json'])) as {
        revision: number;
        status: string;
      }[];
      expect(history.map((h) => [h.revision, h.status])).toEqual([
        [1, 'superseded'],
        [2, 'superseded'],
        [3, 'deployed'],
      ]);
    });

    // Helm v4's wait strategies: '--wait' alone is 'watcher' (kstatus), omitted is 'hookOnly' (waits for hooks
    // only), '--wait=legacy' is Helm 3's. Each run is printed, as data for the README.
    const timedHelm = async (args: string[]) => {
      const start = Date.now();
      const result = await tryHelm(started(), args);
      const seconds = Math.round((Date.now() - start) / 1000);
      console.log(
        `helm ${args.join(' ')}\n  exit ${result.exitCode} after ${seconds} s\n` +
          `  stdout: ${JSON.stringify(result.stdout)}\n  stderr: ${JSON.stringify(result.stderr)}`,
      );
      return { ...result, seconds };
    };

    it('returns at once from an upgrade of a paused Deployment, whatever the wait strategy', async () => {
      const c = started();
      await c.kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
      await c.kubectl(['rollout', 'pause', 'deployment/web', '-n', ns]);
      const upgrade = (image: string, ...flags: string[]) =>
        timedHelm([
          'upgrade',
          'web',
          chart,
          '-n',
          ns,
          '--set',
          `image=${image}`,
          '--timeout',
          '20s',
          ...flags,
        ]);

      // Both waiters skip a paused Deployment (it would never be ready): the release is "deployed" at once.
      for (const [image, flags] of [
        ['nginx:1.29', ['--wait']],
        ['nginx:1.30', []],
        ['nginx:1.31', ['--wait=legacy']],
      ] as const) {
        const result = await upgrade(image, ...flags);
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toContain('STATUS: deployed');
        expect(result.seconds).toBeLessThan(15);
      }

      // ... while nothing rolled out: the Deployment has the last image, its Pods still the one before the pause.
      expect(await imageOf(c, ns, 'web')).toBe('nginx:1.31');
      const podImages = await c.kubectl([
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        'app=web',
        '-o',
        'jsonpath={.items[*].spec.containers[0].image}',
      ]);
      expect(podImages.split(' ')).toEqual(['nginx:1.27']);
      await c.kubectl(['rollout', 'resume', 'deployment/web', '-n', ns]);
    });

    it('times out waiting for a Deployment that cannot become ready, unless told not to wait', async () => {
      const c = started();
      // No Node has this label: the Pods stay Pending.
      const install = (...flags: string[]) =>
        timedHelm(['install', 'stuck', chart, '-n', ns, '--set', 'nodeSelector.disk=none', ...flags]);

      const watcher = await install('--wait', '--timeout', '20s');
      expect(watcher.exitCode).not.toBe(0);
      expect(watcher.seconds).toBeGreaterThanOrEqual(19);
      expect(watcher.stderr).toContain('context deadline exceeded');
      await helm(c, ['uninstall', 'stuck', '-n', ns]);

      const byDefault = await install('--timeout', '20s');
      expect(byDefault.exitCode).toBe(0);
      expect(byDefault.seconds).toBeLessThan(15);
      await helm(c, ['uninstall', 'stuck', '-n', ns]);
    });
  });

  describe("Flux's applier", () => {
    const ns = 'flux-plain';
    let repo = '';
    beforeAll(async () => {
      repo = join(workDir, 'repo');
      await mkdir(repo);
    });

    it('creates, leaves alone what has not drifted, and reconfigures what has', async () => {
      const c = started();
      await writeFile(join(repo, 'app.yaml'), manifests(ns, 'nginx:1.27'));

      expect(await fluxApply(c, repo)).toEqual([
        { object: `Namespace/${ns}`, action: 'created' },
        { object: `Deployment/${ns}/web`, action: 'created' },
      ]);
      expect(await imageOf(c, ns, 'web')).toBe('nginx:1.27');

      expect(await fluxApply(c, repo)).toEqual([
        { object: `Namespace/${ns}`, action: 'unchanged' },
        { object: `Deployment/${ns}/web`, action: 'unchanged' },
      ]);

      await writeFile(join(repo, 'app.yaml'), manifests(ns, 'nginx:1.28'));
      expect(await fluxApply(c, repo, { dryRun: true })).toEqual([
        { object: `Namespace/${ns}`, action: 'unchanged' },
        { object: `Deployment/${ns}/web`, action: 'configured' },
      ]);
      expect(await imageOf(c, ns, 'web')).toBe('nginx:1.27');
      expect(await fluxApply(c, repo)).toEqual([
        { object: `Namespace/${ns}`, action: 'unchanged' },
        { object: `Deployment/${ns}/web`, action: 'configured' },
      ]);
      expect(await imageOf(c, ns, 'web')).toBe('nginx:1.28');

      // Applied as kustomize-controller applies: its field manager, and the labels of the Kustomization.
      const managers = await c.kubectl([
        'get',
        'deployment',
        'web',
        '-n',
        ns,
        '-o',
        'jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation} {end}',
      ]);
      expect(managers).toContain('kustomize-controller:Apply');
      const labels = JSON.parse(
        await c.kubectl(['get', 'deployment', 'web', '-n', ns, '-o', 'jsonpath={.metadata.labels}']),
      ) as Record<string, string>;
      expect(labels).toMatchObject({
        'kustomize.toolkit.fluxcd.io/name': 'apps',
        'kustomize.toolkit.fluxcd.io/namespace': 'flux-system',
      });
    });

    it('waits for health as a Kustomization with spec.wait does', async () => {
      const c = started();
      await c.kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
      expect(await fluxApply(c, repo, { wait: true, waitTimeoutMs: 22_000 })).toEqual([
        { object: `Namespace/${ns}`, action: 'unchanged' },
        { object: `Deployment/${ns}/web`, action: 'unchanged' },
      ]);
    });

    it('takes over fields kubectl set, so it undoes `kubectl rollout pause`', async () => {
      const c = started();
      await c.kubectl(['rollout', 'pause', 'deployment/web', '-n', ns]);
      // The field managers of kubectl's commands ("kubectl-rollout" here) are matched by prefix: their fields
      // become kustomize-controller's, and an apply without them removes them.
      expect(await fluxApply(c, repo)).toEqual([
        { object: `Namespace/${ns}`, action: 'unchanged' },
        { object: `Deployment/${ns}/web`, action: 'configured' },
      ]);
      expect(await pausedOf(c, ns, 'web')).toBe('');
    });

    it('leaves alone a pause by another field manager, and its health check times out on it', async () => {
      const c = started();
      await c.kubectl(['rollout', 'pause', 'deployment/web', '-n', ns, '--field-manager=sluice-test']);
      expect(await fluxApply(c, repo)).toEqual([
        { object: `Namespace/${ns}`, action: 'unchanged' },
        { object: `Deployment/${ns}/web`, action: 'unchanged' },
      ]);
      expect(await pausedOf(c, ns, 'web')).toBe('true');

      // A change held back by the pause: applied, never healthy ("Deployment is paused" is not progress).
      await writeFile(join(repo, 'app.yaml'), manifests(ns, 'nginx:1.29'));
      const start = Date.now();
      const failed = await fluxApply(c, repo, { wait: true, waitTimeoutMs: 22_000 }).then(
        () => undefined,
        (err: unknown) => err,
      );
      console.log(`flux-apply --wait --timeout=22s, paused Deployment: ${Date.now() - start} ms`, failed);
      expect(failed).toBeInstanceOf(FluxApplyError);
      expect((failed as FluxApplyError).round).toEqual({
        round: 1,
        actions: [
          { object: `Namespace/${ns}`, action: 'unchanged' },
          { object: `Deployment/${ns}/web`, action: 'configured' },
        ],
        error: `timeout waiting for: [Deployment/${ns}/web status: 'InProgress']`,
      });

      await c.kubectl(['rollout', 'resume', 'deployment/web', '-n', ns, '--field-manager=sluice-test']);
      await c.kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=120s'], {
        timeoutMs: 130_000,
      });
    });

    it('finds nothing to do, round after round, in a loop over manifests already applied', async () => {
      const c = started();
      const loop = fluxLoop(c, repo, 2_000);
      try {
        await loop.waitForRounds(3);
      } finally {
        const rounds = await loop.stop();
        expect(rounds.length).toBeGreaterThanOrEqual(3);
        for (const round of rounds) {
          expect(round).toEqual({
            round: round.round,
            actions: [
              { object: `Namespace/${ns}`, action: 'unchanged' },
              { object: `Deployment/${ns}/web`, action: 'unchanged' },
            ],
          });
        }
      }
    });
  });
});
