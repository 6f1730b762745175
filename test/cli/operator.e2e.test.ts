import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCluster } from '../support/kube.js';
import { SLUICE_BIN, freePort, run, type RunResult } from '../support/processes.js';

// The operator's commands as a user runs them: the built CLI as a process, as `sluice` and as the kubectl
// plugin, against a real API server with the Canary CRD. No controller runs here: the test writes the
// Canary's status itself, and checks the annotation `promote` leaves for the controller.

const CRD = fileURLToPath(new URL('../../manifests/crd.yaml', import.meta.url));
const MINUTE = 60_000;

function runWithEnv(bin: string, args: readonly string[], env: Record<string, string>): Promise<RunResult> {
  return run(bin, args, { env });
}

const deployment = (name: string, annotations: Record<string, string>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'shop', annotations },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [{ name: 'app', image: 'podinfo:6.7.0', ports: [{ name: 'http', containerPort: 9898 }] }],
      },
    },
  },
});

const canary = (namespace: string, name: string) => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Canary',
  metadata: { name, namespace },
  spec: { targetRef: { name } },
});

describe('sluice status and the action commands, on a real API server', () => {
  const started = useCluster();
  let workDir = '';
  let pluginDir = '';
  const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();

  /** The built CLI as `sluice`, with the cluster's kubeconfig in KUBECONFIG, as a user's shell has it. */
  const sluice = (args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> =>
    runWithEnv(process.execPath, [SLUICE_BIN, ...args], { KUBECONFIG: started().kubeconfigPath, ...env });

  /** `kubectl sluice …`: kubectl finds the plugin on PATH; plugins get no --kubeconfig, only the env. */
  const kubectlSluice = (args: readonly string[]): Promise<RunResult> =>
    runWithEnv(started().kubectlPath, ['sluice', ...args], {
      KUBECONFIG: started().kubeconfigPath,
      PATH: [pluginDir, dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter),
    });

  const writeStatus = (namespace: string, name: string, status: object): Promise<string> =>
    started().kubectl(
      ['apply', '--server-side', '--subresource=status', '--field-manager=sluice-test', '-f', '-'],
      {
        stdin: JSON.stringify({ ...canary(namespace, name), status }),
      },
    );

  beforeAll(async () => {
    const c = started();
    workDir = await mkdtemp(join(tmpdir(), 'sluice-operator-'));
    pluginDir = join(workDir, 'bin');
    await c.kubectl(['create', 'namespace', 'shop']);
    await c.kubectl(['create', 'namespace', 'api']);
    await mkdir(pluginDir);
    await symlink(SLUICE_BIN, join(pluginDir, 'kubectl-sluice'));

    await c.kubectl(['apply', '-f', CRD]);
    await c.kubectl(['wait', '--for=condition=Established', 'crd/canaries.sluice.dev', '--timeout=60s']);
    await c.apply(
      deployment('podinfo', { 'sluice.dev/canary': 'enabled', 'sluice.dev/step-weight': '20' }),
      deployment('checkout', { 'sluice.dev/canary': 'enabled' }),
      deployment('legacy', {}),
      canary('shop', 'podinfo'),
      canary('api', 'cart'),
    );
    await writeStatus('shop', 'podinfo', {
      phase: 'Progressing',
      canaryWeight: 20,
      failedChecks: 1,
      iterations: 0,
      stableRevision: '8e1b2c3d4e',
      candidateRevision: '3f2a9c01d4',
      failedRevision: '1a2b3c4d5e',
      pausedMs: 0,
      lastTransitionTime: ago(20 * MINUTE),
      lastAnalysis: {
        at: ago(30_000),
        weight: 20,
        result: 'failed',
        summary: 'success rate 91.2% < 99%',
        objectives: [
          { objective: 'success-rate>=99%', value: 91.2, passed: false, summary: 'success rate 91.2% < 99%' },
          {
            objective: 'p99-latency<=500ms',
            value: 120,
            passed: true,
            summary: 'p99 latency 120ms <= 500ms',
          },
        ],
        canary: {
          requests: 125,
          successRate: 91.2,
          errorRate: 8.8,
          meanLatencyMs: 41.3,
          latencyQuantilesMs: { '0.99': 120 },
        },
        primary: {
          requests: 1080,
          successRate: 99.91,
          errorRate: 0.09,
          meanLatencyMs: 30.2,
          latencyQuantilesMs: { '0.99': 88.6 },
        },
        error: null,
      },
      conditions: [
        {
          type: 'Promoted',
          status: 'False',
          reason: 'Progressing',
          message: 'canary at weight 20',
          lastTransitionTime: ago(20 * MINUTE),
        },
        {
          type: 'ProxyReachable',
          status: 'True',
          reason: 'RoutesServed',
          message: 'every primary proxy fetched its routes',
          lastTransitionTime: ago(3 * 60 * MINUTE),
        },
      ],
    });
    await writeStatus('api', 'cart', {
      phase: 'Succeeded',
      canaryWeight: 0,
      failedChecks: 0,
      stableRevision: '5d4c3b2a10',
      lastTransitionTime: ago(3 * 60 * MINUTE),
    });
  });

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('lists the releases of a namespace like kubectl get canaries', async () => {
    const result = await sluice(['status', '-n', 'shop']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      [
        'NAME      STATUS        WEIGHT   FAILED   CANDIDATE    LAST TRANSITION',
        'podinfo   Progressing   20       1        3f2a9c01d4   20m',
        '',
      ].join('\n'),
    );
  });

  it('lists every namespace with -A', async () => {
    const result = await sluice(['status', '-A']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      'NAMESPACE   NAME      STATUS        WEIGHT   FAILED   CANDIDATE    LAST TRANSITION',
      'api         cart      Succeeded     0        0        <none>       3h',
      'shop        podinfo   Progressing   20       1        3f2a9c01d4   20m',
      '',
    ]);
  });

  it('takes the namespace from the kubeconfig context when -n is not given, and --kubeconfig over KUBECONFIG', async () => {
    const config = JSON.parse(await readFile(started().kubeconfigPath, 'utf8')) as {
      contexts: { context: Record<string, string> }[];
    };
    for (const { context } of config.contexts) context['namespace'] = 'api';
    const path = join(workDir, 'kubeconfig-api');
    await writeFile(path, JSON.stringify(config), { mode: 0o600 });

    const fromContext = await sluice(['status'], { KUBECONFIG: path });
    expect(fromContext.stdout).toMatch(/^NAME +STATUS.*\ncart +Succeeded /);
    const fromFlag = await sluice(['status', '--kubeconfig', path], { KUBECONFIG: '/nonexistent' });
    expect(fromFlag.stdout).toMatch(/\ncart +Succeeded /);
  });

  it("shows one release's last check, conditions and failed revision", async () => {
    const result = await sluice(['status', 'podinfo', '-n', 'shop']);
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 15)).toEqual([
      'NAME      STATUS        WEIGHT   FAILED   CANDIDATE    LAST TRANSITION',
      'podinfo   Progressing   20       1        3f2a9c01d4   20m',
      '',
      'Deployment:   shop/podinfo',
      'Revisions:    stable 8e1b2c3d4e, candidate 3f2a9c01d4',
      'Failed:       revision 1a2b3c4d5e was rolled back; it is not started again until sluice retry podinfo -n shop',
      '',
      expect.stringMatching(/^Last check: {3}failed at weight 20, \d+s ago$/),
      '  success rate 91.2% < 99%',
      '  OBJECTIVE            RESULT   MEASURED',
      '  success-rate>=99%    failed   success rate 91.2% < 99%',
      '  p99-latency<=500ms   passed   p99 latency 120ms <= 500ms',
      '',
      '            REQUESTS   SUCCESS RATE   MEAN LATENCY   P99 LATENCY',
      '  canary    125        91.2%          41ms           120ms',
    ]);
    expect(result.stdout).toMatch(/\n {2}Promoted +False +Progressing +20m +canary at weight 20\n/);
    expect(result.stdout).toMatch(/\n {2}ProxyReachable +True +RoutesServed +3h +every primary proxy/);
  });

  it('prints the status as stored with -o json', async () => {
    const one = await sluice(['status', 'podinfo', '-n', 'shop', '-o', 'json']);
    expect(one.exitCode).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({
      namespace: 'shop',
      name: 'podinfo',
      deployment: 'podinfo',
      status: { phase: 'Progressing', lastAnalysis: { canary: { requests: 125 } } },
    });
    const all = await sluice(['status', '-A', '-ojson']);
    expect((JSON.parse(all.stdout) as { name: string }[]).map((c) => c.name)).toEqual(['cart', 'podinfo']);
  });

  it('works as kubectl sluice, the kubectl plugin', async () => {
    const result = await kubectlSluice(['status', '-n', 'shop']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(
      /^NAME +STATUS +WEIGHT +FAILED +CANDIDATE +LAST TRANSITION\npodinfo +Progressing +20 /,
    );
    const help = await kubectlSluice(['promote', '--help']);
    expect(help.stdout).toContain('Usage: kubectl sluice promote <deployment> [options]');
    const detail = await kubectlSluice(['status', 'podinfo', '-n', 'shop']);
    expect(detail.stdout).toContain('until kubectl sluice retry podinfo -n shop');
  });

  it('promote sets sluice.dev/action on the Deployment and leaves its other annotations', async () => {
    const result = await sluice(['promote', 'podinfo', '-n', 'shop']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      'deployment shop/podinfo: promote requested (the controller acts on it within a few seconds; ' +
        'watch with: kubectl get canary podinfo -n shop -w)\n',
    );
    const annotations = JSON.parse(
      await started().kubectl([
        'get',
        'deployment',
        'podinfo',
        '-n',
        'shop',
        '-o',
        'jsonpath={.metadata.annotations}',
      ]),
    ) as Record<string, string>;
    expect(annotations).toMatchObject({
      'sluice.dev/action': 'promote',
      'sluice.dev/canary': 'enabled',
      'sluice.dev/step-weight': '20',
    });
  });

  it('each action writes its own name, through kubectl sluice too, and says when it replaces a pending one', async () => {
    const action = async (): Promise<string> =>
      started().kubectl([
        'get',
        'deployment',
        'checkout',
        '-n',
        'shop',
        '-o',
        'jsonpath={.metadata.annotations.sluice\\.dev/action}',
      ]);
    for (const name of ['pause', 'resume', 'retry', 'abort']) {
      const result = await kubectlSluice([name, 'checkout', '-n', 'shop']);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toContain(`deployment shop/checkout: ${name} requested`);
      expect(await action()).toBe(name);
    }
    const replacing = await sluice(['promote', 'checkout', '-n', 'shop']);
    expect(replacing.stdout).toContain(
      'it replaces the pending abort, which the controller had not acted on yet',
    );
  });

  it('refuses a Deployment that is not opted in, and names one that is missing', async () => {
    const legacy = await sluice(['pause', 'legacy', '-n', 'shop']);
    expect(legacy.exitCode).toBe(1);
    expect(legacy.stderr).toBe(
      'sluice pause: deployment shop/legacy is not opted in to sluice (sluice.dev/canary is not set); ' +
        'to opt in: kubectl annotate deployment legacy -n shop sluice.dev/canary=enabled\n',
    );
    const untouched = await started().kubectl([
      'get',
      'deployment',
      'legacy',
      '-n',
      'shop',
      '-o',
      'jsonpath={.metadata.annotations}',
    ]);
    expect(untouched).not.toContain('sluice.dev/action');

    const missing = await sluice(['abort', 'nothere', '-n', 'shop']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('sluice abort: deployment shop/nothere not found\n');
  });

  it('says why a Deployment has no release', async () => {
    const legacy = await sluice(['status', 'legacy', '-n', 'shop']);
    expect(legacy.exitCode).toBe(1);
    expect(legacy.stderr).toContain('deployment shop/legacy is not opted in to sluice');
    expect(legacy.stderr).toContain('kubectl annotate deployment legacy -n shop sluice.dev/canary=enabled');

    const noCanary = await sluice(['status', 'checkout', '-n', 'shop']);
    expect(noCanary.exitCode).toBe(1);
    expect(noCanary.stderr).toMatch(
      /^sluice status: deployment shop\/checkout is opted in but has no Canary object yet/,
    );

    const missing = await sluice(['status', 'nothere', '-n', 'shop']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('sluice status: deployment shop/nothere not found\n');

    const empty = await sluice(['status', '-n', 'default']);
    expect(empty.exitCode).toBe(0);
    expect(empty.stderr).toMatch(/^No releases in namespace default: no Deployment is opted in/);
  });

  it('reports a forbidden request in one line, naming what was refused', async () => {
    const c = started();
    await c.kubectl(['create', 'serviceaccount', 'viewer', '-n', 'shop']);
    const kubeconfig = await c.serviceAccountKubeconfig('shop', 'viewer');
    const status = await sluice(['status', '-n', 'shop'], { KUBECONFIG: kubeconfig });
    expect(status.exitCode).toBe(1);
    expect(status.stdout).toBe('');
    expect(status.stderr).toBe(
      'sluice status: cannot list canaries.sluice.dev in namespace shop: canaries.sluice.dev is forbidden: ' +
        'User "system:serviceaccount:shop:viewer" cannot list resource "canaries" in API group "sluice.dev" ' +
        'in the namespace "shop"\n',
    );
    const promote = await sluice(['promote', 'podinfo', '-n', 'shop'], { KUBECONFIG: kubeconfig });
    expect(promote.exitCode).toBe(1);
    expect(promote.stderr).toMatch(/^sluice promote: cannot read deployment shop\/podinfo: .*forbidden.*\n$/);
  });

  it('reports an API server it cannot reach in one line', async () => {
    const config = JSON.parse(await readFile(started().kubeconfigPath, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    const port = await freePort();
    for (const { cluster } of config.clusters) cluster.server = `https://127.0.0.1:${port}`;
    const path = join(workDir, 'kubeconfig-closed');
    await writeFile(path, JSON.stringify(config), { mode: 0o600 });

    const result = await sluice(['status', '-n', 'shop', '--kubeconfig', path]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(
      `sluice status: cannot list canaries.sluice.dev in namespace shop: the Kubernetes API at ` +
        `https://127.0.0.1:${port} did not answer (connect ECONNREFUSED 127.0.0.1:${port})\n`,
    );
  });

  it('exits 2 naming a missing or extra argument', async () => {
    const missing = await sluice(['promote', '-n', 'shop']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('sluice promote: missing <deployment>');
    const extra = await sluice(['status', 'podinfo', 'checkout']);
    expect(extra.exitCode).toBe(2);
    expect(extra.stderr).toContain('unexpected argument "checkout" (expected only [deployment])');
  });
});
