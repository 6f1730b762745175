import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { useCluster, type Cluster } from './kube.js';
import { freePort } from './processes.js';
import {
  installSluice,
  startController,
  startDataPath,
  wiringOf,
  type ControllerRun,
  type DataPath,
  type InstallOptions,
  type Installed,
} from './sluice-on-cluster.js';
import { eventually } from './eventually.js';

/**
 * Release scenarios on the test control plane with a podinfo-like Deployment: sluice installed once per file,
 * one namespace per test, the controller and its data path started per test and stopped after it, and on a
 * failure what the controller did and where the objects stood, printed next to the failed assertion.
 */

export const RELEASE_ANNOTATIONS: Readonly<Record<string, string>> = {
  'sluice.dev/canary': 'enabled',
  'sluice.dev/interval': '5s',
  'sluice.dev/step-weights': '20,50',
  'sluice.dev/threshold': '2',
  'sluice.dev/min-requests': '5',
  'sluice.dev/match': 'traffic=test',
};

export interface ConfigUse {
  kind: 'ConfigMap' | 'Secret';
  name: string;
}

/** The Deployment a test applies, as a user would write it (no proxy, no sluice-managed fields) [named podinfo]. */
export function podinfo(
  namespace: string,
  image: string,
  annotations: Readonly<Record<string, string>> = RELEASE_ANNOTATIONS,
  extra: { config?: ConfigUse; replicas?: number; name?: string } = {},
): Record<string, unknown> {
  // The container keeps its name: `kubectl set image …podinfo=…` works on any of them.
  const name = extra.name ?? 'podinfo';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, annotations },
    spec: {
      replicas: extra.replicas ?? 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'podinfo',
              image,
              ports: [{ name: 'http', containerPort: 9898 }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' } },
              ...(extra.config !== undefined && {
                envFrom: [
                  extra.config.kind === 'ConfigMap'
                    ? { configMapRef: { name: extra.config.name } }
                    : { secretRef: { name: extra.config.name } },
                ],
              }),
            },
          ],
        },
      },
    },
  };
}

export interface DeploymentJson {
  metadata: { annotations?: Record<string, string>; generation: number };
  spec: {
    paused?: boolean;
    replicas?: number;
    template: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        containers: {
          name: string;
          image: string;
          envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
        }[];
      };
    };
  };
  status?: { replicas?: number; readyReplicas?: number };
}

export interface ConfigMapJson {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

export interface CanaryJson {
  status?: {
    phase?: string;
    canaryWeight?: number;
    failedChecks?: number;
    stableRevision?: string;
    candidateRevision?: string;
    failedRevision?: string;
    conditions?: { type: string; status: string; reason: string; message?: string }[];
    lastAnalysis?: { result: string; summary: string };
    outcome?: { reason: string; revision: string; message: string };
  };
}

interface PodJson {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { containers: { name: string; image: string }[] };
  status?: { phase?: string };
}

export interface Scenario {
  cluster(): Cluster;
  installed(): Installed;
  /** The data path and controller of the running test, once `setUp` started them. */
  data(): DataPath;
  controller(): ControllerRun;
  /** A namespace with podinfo opted in and rolled out, and a controller with its data path. */
  setUp(
    namespace: string,
    options?: {
      canary?: { errorRate: number; latencyMs: number };
      config?: ConfigUse;
      /** The config's GREETING value ["hello"]. */
      greeting?: string;
      annotations?: Readonly<Record<string, string>>;
      replicas?: number;
      /** How podinfo 1.0 is created, in the namespace made for it [kubectl apply of `podinfo`]. */
      install?: (namespace: string) => Promise<unknown>;
      /** What the data path's apps speak, and the proxy with them ['http']: `grpc` runs gRPC apps and load. */
      protocol?: 'http' | 'grpc';
      /** More flags for `sluice controller`. */
      controllerArgs?: readonly string[];
    },
  ): Promise<void>;
  /** A namespace with podinfo opted in and rolled out, and no controller: the webhook alone. */
  optIn(namespace: string): Promise<void>;
  /**
   * Stops the controller (SIGTERM, or SIGKILL when `kill`) and starts a new one on the same data path: a
   * restart, a crash, or a new version; `meanwhile` runs while no controller runs.
   */
  restartController(options?: { kill?: boolean; meanwhile?: () => Promise<void> }): Promise<ControllerRun>;
  /** A second controller replica on the same data path, its route server on a port of its own. */
  startReplica(identity: string): Promise<ControllerRun>;
  getJson<T>(namespace: string, what: string): Promise<T>;
  exists(namespace: string, what: string): Promise<boolean>;
  canaryPhase(namespace: string, phase: string): Promise<CanaryJson | undefined>;
  /** Waits up to 60 s for the controller's `podinfo-canary` Deployment, and returns it. */
  canaryDeployment<T = DeploymentJson>(namespace: string): Promise<T>;
  /** The images the primary's pods run (not the canary's, nor pods on their way out), sorted. */
  primaryPodImages(namespace: string): Promise<string[]>;
  /** The names of the primary's ReplicaSets with their revision annotation, to show none was added. */
  replicaSets(namespace: string): Promise<string[]>;
  rolledOut(namespace: string): Promise<void>;
  /**
   * Waits until the controller has seen every change made before the call: it sends `sluice.dev/action:
   * resume`, which a settled release (Initialized, Succeeded, Failed) ignores, and waits for the controller
   * to consume it. Use it before asserting that a change had no effect.
   */
  controllerCaughtUp(namespace: string): Promise<void>;
  /** The messages of the Deployment's Events with this reason, space-separated. */
  eventMessages(namespace: string, reason: string): Promise<string>;
  /** A release of the candidate under way: the canary is ready and has a route. */
  releaseRunning(namespace: string): Promise<void>;
  /**
   * Waits for the release to end as Reverted within two intervals of `intervalMs`, and checks what a user
   * and a GitOps tool must see then: the Event, the condition, the canary objects gone, the Deployment on
   * 1.0 and unpaused, no ReplicaSet beyond `replicaSets` (so 1.0's pods never changed) .
   */
  expectReverted(namespace: string, replicaSets: readonly string[], intervalMs?: number): Promise<void>;
}

export const imageOf = (deployment: DeploymentJson): string | undefined =>
  deployment.spec.template.spec.containers.find((c) => c.name === 'podinfo')?.image;

export function useReleaseScenarios(install: InstallOptions = {}): Scenario {
  const clusterOf = useCluster();
  let installed: Installed | undefined;
  let data: DataPath | undefined;
  let controller: ControllerRun | undefined;
  let namespaceInUse: string | undefined;

  beforeAll(async () => {
    installed = await installSluice(clusterOf(), install);
  });
  afterAll(async () => {
    await installed?.uninstall();
  });
  afterEach(async (context) => {
    const failed = context.task.result?.state === 'fail';
    if (failed && controller !== undefined) {
      const lines = controller.logs.filter(
        (l) => (l['level'] as number) >= 40 || l['msg'] === 'releaseEvent',
      );
      console.error(lines.map((l) => JSON.stringify(l)).join('\n'));
    }
    if (failed && namespaceInUse !== undefined) {
      const c = clusterOf();
      const ns = namespaceInUse;
      const state = await c.tryKubectl([
        'get',
        'deployments,replicasets,pods,canaries',
        '-n',
        ns,
        '-o',
        'wide',
      ]);
      const conditions = await c.tryKubectl([
        'get',
        'deployments',
        '-n',
        ns,
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}: {.spec.paused} {.metadata.annotations} {.status}{"\\n"}{end}',
      ]);
      // A Node gone NotReady marks its Pods not Ready: the fake Node's state belongs next to its Pods'.
      const nodes = await c.tryKubectl(['get', 'nodes', '-o', 'wide']);
      console.error(
        `${state.stdout}${state.stderr}\n${conditions.stdout}${conditions.stderr}\n${nodes.stdout}${nodes.stderr}`,
      );
    }
    namespaceInUse = undefined;
    await controller?.stop();
    await data?.stop();
    controller = undefined;
    data = undefined;
  });

  const c = (): Cluster => clusterOf();
  const getJson = async <T>(namespace: string, what: string): Promise<T> =>
    JSON.parse(await c().kubectl(['get', what, '-n', namespace, '-o', 'json'])) as T;
  const rolledOut = async (namespace: string): Promise<void> => {
    await c().kubectl(['rollout', 'status', 'deployment/podinfo', '-n', namespace, '--timeout=90s'], {
      timeoutMs: 100_000,
    });
  };
  const canaryPhase = async (namespace: string, phase: string): Promise<CanaryJson | undefined> => {
    const canary = await getJson<CanaryJson>(namespace, 'canary/podinfo').catch(() => undefined);
    return canary?.status?.phase === phase ? canary : undefined;
  };
  const mustHave = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not running: call setUp first`);
    return value;
  };

  const scenario: Scenario = {
    cluster: c,
    installed: () => mustHave(installed, 'sluice'),
    data: () => mustHave(data, 'the data path'),
    controller: () => mustHave(controller, 'the controller'),
    getJson,
    canaryPhase,
    canaryDeployment: <T>(namespace: string) =>
      eventually(
        'the canary Deployment',
        async () =>
          (await scenario.exists(namespace, 'deployment/podinfo-canary'))
            ? getJson<T>(namespace, 'deployment/podinfo-canary')
            : undefined,
        { timeoutMs: 60_000 },
      ),
    rolledOut,
    exists: async (namespace, what) => (await c().tryKubectl(['get', what, '-n', namespace])).exitCode === 0,
    async setUp(namespace, options = {}) {
      await c().kubectl(['create', 'namespace', namespace]);
      namespaceInUse = namespace;
      const config = options.config;
      if (config !== undefined) {
        const create = config.kind === 'ConfigMap' ? ['configmap'] : ['secret', 'generic'];
        await c().kubectl([
          'create',
          ...create,
          config.name,
          '-n',
          namespace,
          `--from-literal=GREETING=${options.greeting ?? 'hello'}`,
        ]);
      }
      const install =
        options.install ??
        (() =>
          c().apply(
            podinfo(namespace, 'example/podinfo:1.0', options.annotations ?? RELEASE_ANNOTATIONS, {
              ...(config !== undefined && { config }),
              ...(options.replicas !== undefined && { replicas: options.replicas }),
            }),
          ));
      await install(namespace);
      await rolledOut(namespace);
      data = await startDataPath(
        namespace,
        'podinfo',
        options.canary ?? { errorRate: 0, latencyMs: 0 },
        options.protocol,
      );
      controller = await startController(mustHave(installed, 'sluice'), namespace, wiringOf(data), {
        args: options.controllerArgs ?? [],
      });
      await controller.waitForLog('leadership', 20_000);
      await eventually('the Canary to be Initialized', () => canaryPhase(namespace, 'Initialized'), {
        timeoutMs: 60_000,
      });
    },
    async optIn(namespace) {
      await c().kubectl(['create', 'namespace', namespace]);
      namespaceInUse = namespace;
      await c().apply(podinfo(namespace, 'example/podinfo:1.0'));
      await rolledOut(namespace);
    },
    async restartController(options = {}) {
      const ns = mustHave(namespaceInUse, 'a namespace');
      const old = mustHave(controller, 'the controller');
      if (options.kill === true) {
        old.child.kill('SIGKILL');
        await old.exited;
      } else {
        await old.stop();
      }
      await options.meanwhile?.();
      controller = await startController(
        mustHave(installed, 'sluice'),
        ns,
        wiringOf(mustHave(data, 'the data path')),
      );
      await controller.waitForLog('leadership', 20_000);
      return controller;
    },
    async startReplica(identity) {
      const installedNow = mustHave(installed, 'sluice');
      return startController(installedNow, namespaceInUse ?? '', wiringOf(mustHave(data, 'the data path')), {
        identity,
        port: await freePort(),
      });
    },
    async controllerCaughtUp(namespace) {
      await c().kubectl(['annotate', 'deployment/podinfo', '-n', namespace, 'sluice.dev/action=resume']);
      await eventually(
        'the controller to consume sluice.dev/action',
        async () => {
          const d = await getJson<DeploymentJson>(namespace, 'deployment/podinfo');
          return d.metadata.annotations?.['sluice.dev/action'] === undefined ? true : undefined;
        },
        { timeoutMs: 60_000 },
      );
    },
    eventMessages: (namespace, reason) =>
      c().kubectl([
        'get',
        'events',
        '-n',
        namespace,
        '--field-selector',
        `reason=${reason}`,
        '-o',
        'jsonpath={.items[*].message}',
      ]),
    async releaseRunning(namespace) {
      await eventually(
        'the release to progress with a route',
        async () => {
          const canary = await canaryPhase(namespace, 'Progressing');
          return (canary?.status?.canaryWeight ?? 0) > 0 ? canary : undefined;
        },
        { timeoutMs: 60_000 },
      );
    },
    async expectReverted(namespace, replicaSets, intervalMs = 5_000) {
      const started = Date.now();
      const canary = await eventually(
        'the release to end as Reverted',
        async () => {
          const found = await getJson<CanaryJson>(namespace, 'canary/podinfo');
          return found.status?.outcome?.reason === 'Reverted' ? found : undefined;
        },
        { timeoutMs: 2 * intervalMs + 5_000 },
      );
      expect(Date.now() - started).toBeLessThan(2 * intervalMs);
      expect(canary.status?.phase).toBe('Initialized');
      expect(canary.status?.conditions?.find((x) => x.type === 'Promoted')?.reason).toBe('Reverted');
      expect(await scenario.eventMessages(namespace, 'Reverted')).toContain(
        'changed back to stable revision',
      );
      await eventually(
        'the canary objects to be deleted',
        async () =>
          (await c().tryKubectl(['get', 'deployment/podinfo-canary', '-n', namespace])).exitCode !== 0 &&
          (await c().tryKubectl(['get', 'service/podinfo-canary', '-n', namespace])).exitCode !== 0
            ? true
            : undefined,
        { timeoutMs: 60_000 },
      );
      const deployment = await getJson<DeploymentJson>(namespace, 'deployment/podinfo');
      expect(imageOf(deployment)).toBe('example/podinfo:1.0');
      expect(deployment.spec.paused).toBeFalsy();
      expect(deployment.metadata.annotations?.['sluice.dev/candidate-revision']).toBeUndefined();
      // No ReplicaSet was added: the reverted version never reached a primary pod, and nothing rolled.
      await rolledOut(namespace);
      expect(await scenario.replicaSets(namespace)).toEqual(replicaSets);
      expect(await scenario.primaryPodImages(namespace)).toEqual([
        'example/podinfo:1.0',
        'example/podinfo:1.0',
      ]);
    },
    async primaryPodImages(namespace) {
      const pods = await getJson<{ items: PodJson[] }>(namespace, 'pods');
      return pods.items
        .filter((p) => p.metadata.labels?.['sluice.dev/role'] !== 'canary')
        .filter((p) => p.metadata.deletionTimestamp === undefined)
        .map((p) => p.spec.containers.find((container) => container.name === 'podinfo')?.image ?? '')
        .sort();
    },
    async replicaSets(namespace) {
      const sets = await getJson<{
        items: { metadata: { name: string; labels?: Record<string, string> } }[];
      }>(namespace, 'replicasets');
      return sets.items
        .filter((s) => s.metadata.labels?.['sluice.dev/role'] !== 'canary')
        .map((s) => s.metadata.name)
        .sort();
    },
  };
  return scenario;
}

export interface WatchRow {
  name: string;
  status: string;
  weight: string;
}

/** `kubectl get canaries -w`, as a user would run it, with its rows parsed. */
export function watchCanaries(cluster: Cluster, namespace: string): { rows(): WatchRow[]; stop(): void } {
  const child: ChildProcess = spawn(
    cluster.kubectlPath,
    ['--kubeconfig', cluster.kubeconfigPath, 'get', 'canaries', '-n', namespace, '-w'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    rows: () =>
      text
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => cols.length >= 3)
        .map(([name = '', status = '', weight = '']) => ({ name, status, weight })),
    stop: () => {
      child.kill('SIGTERM');
    },
  };
}
