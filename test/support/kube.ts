import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { kwokConfig } from './kwok-stages.js';
import { createCertificateAuthority, createSigningKey } from './pki.js';
import {
  CommandFailedError,
  freePort,
  ManagedProcess,
  ProcessExitedError,
  run,
  type RunResult,
} from './processes.js';
import { eventually } from './eventually.js';

// The end-to-end tier's Kubernetes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
// built from Go modules by hack/k8s/build.sh and started here as local processes on 127.0.0.1. kwok plays
// the kubelet of one fake Node, so Pods are scheduled and reported Running without any container runtime;
// test/support/kwok-stages.ts says how it plays them, and which image tags make a container fail to start.

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export const kwokNodeName = 'kwok-node-0';

export {
  CRASHLOOP_EXIT_CODE,
  CRASHLOOP_RESTART_EVERY_MS,
  FAILING_TAGS,
  failingImage,
  IMAGE_PULL_BACKOFF_AFTER_MS,
  type FailingTag,
} from './kwok-stages.js';

/** Temp dirs of clusters not yet stopped; removed if the test runner exits without `stop()`. */
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

export class ControlPlaneNotBuiltError extends Error {
  readonly code = 'CONTROL_PLANE_NOT_BUILT';
  constructor(readonly binDir: string) {
    super(`the test control plane is not built in ${binDir}: run hack/k8s/build.sh`);
    this.name = 'ControlPlaneNotBuiltError';
  }
}

export class KubectlError extends CommandFailedError {
  override readonly name = 'KubectlError';
}

/** The Kubernetes release hack/k8s/go.mod builds, e.g. `v1.36.3`. */
export function pinnedKubernetesVersion(): string {
  const goMod = readFileSync(join(repoRoot, 'hack/k8s/go.mod'), 'utf8');
  const version = /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(goMod)?.[1];
  if (!version) throw new Error('hack/k8s/go.mod does not require k8s.io/kubernetes');
  return version;
}

/** Where hack/k8s/build.sh put the binaries for the Kubernetes version pinned in hack/k8s/go.mod. */
export function controlPlaneBinDir(): string {
  const version = pinnedKubernetesVersion();
  const cache = process.env['SLUICE_K8S_CACHE'] ?? join(homedir(), '.cache/sluice-k8s');
  return join(cache, version);
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `apply -f -`). */
  stdin?: string;
  /** Another identity's kubeconfig, e.g. from `serviceAccountKubeconfig` [cluster-admin's]. */
  kubeconfig?: string;
  timeoutMs?: number;
}

export interface Cluster {
  /** A kubeconfig with cluster-admin rights (a static token in group system:masters). */
  kubeconfigPath: string;
  /** The apiserver's URL, https://127.0.0.1:<port> (or the `address` it was started on). */
  server: string;
  /** The cluster's CA; it signed the apiserver's serving cert and signs certs from `issueCertificate`. */
  ca: { cert: string; certPath: string };
  /** Absolute path of the kubectl built with this control plane. */
  kubectlPath: string;
  /**
   * Runs kubectl against this cluster as cluster-admin; resolves stdout, rejects with `KubectlError` on a
   * non-zero exit. `--as=<user>` impersonates anyone else (e.g. a user forging a promotion).
   */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<string>;
  /** Like `kubectl`, but resolves on any exit, for tests that expect a refusal. */
  tryKubectl(args: readonly string[], options?: KubectlOptions): Promise<RunResult>;
  /** `kubectl apply -f -` of the given objects. */
  apply(...objects: readonly object[]): Promise<string>;
  /**
   * A serving certificate signed by the cluster's CA, for a server the apiserver calls (a webhook on
   * 127.0.0.1): use `ca.cert` as the `caBundle`.
   */
  issueCertificate(name: string, hosts?: readonly string[]): Promise<{ cert: string; key: string }>;
  /**
   * A kubeconfig that authenticates as a ServiceAccount (with a token the apiserver issued), for running
   * sluice's controller or webhook as a local process under the identity and RBAC it has in a cluster.
   */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
  /**
   * The `clientConfig` of a webhook the apiserver reaches at `url` (https://127.0.0.1:<port>/<path>), whose
   * serving cert came from `issueCertificate`.
   */
  webhookClientConfig(url: string): { url: string; caBundle: string };
  /** The last lines of a component's log (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok). */
  logTail(component: string, lines?: number): string;
  /**
   * Stops kube-apiserver (SIGTERM) and starts it again with the same flags and etcd, as an upgrade or a
   * crash of the control plane would; resolves once it is ready again. `meanwhile` runs while it is down.
   */
  restartApiServer(meanwhile?: () => Promise<void>): Promise<void>;
  /** Stops every process it started, by PID, and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** How long to wait for all components to be ready [120 s]. */
  timeoutMs?: number;
  /** How many Pods the fake Node takes [250]. */
  maxPods?: number;
  /**
   * kube-controller-manager's requests per second to the apiserver [20, its default]: with hundreds of
   * Deployments rolling at once, the default makes the ReplicaSet controller the bottleneck.
   */
  controllerManagerQps?: number;
  /**
   * Where the apiserver listens and what it advertises as the `kubernetes` Service's endpoint [127.0.0.1].
   * Pods on a real node reach it only at an address of their network: the node's bridge (see node-network.ts).
   */
  address?: string;
  /** The Services' ClusterIP range [10.96.0.0/16]; a real node routes it, so each test picks its own. */
  serviceCidr?: string;
}

/** The first address of a CIDR's range: the ClusterIP the apiserver gives the `kubernetes` Service. */
function firstServiceIp(cidr: string): string {
  const [network = ''] = cidr.split('/');
  const octets = network.split('.').map(Number);
  octets[3] = (octets[3] ?? 0) + 1;
  return octets.join('.');
}

/**
 * Starts a control plane in a fresh temp dir. Call `stop()` in `afterAll` (it also runs when the start fails).
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<Cluster> {
  // A free port is found by binding port 0 and releasing it, so another process on the machine can take it
  // before our component binds it; such a start is retried on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(options);
    } catch (err) {
      const portTaken = err instanceof ProcessExitedError && err.logTail.includes('address already in use');
      if (!portTaken || attempt === 3) throw err;
    }
  }
}

async function startClusterOnce(options: StartClusterOptions): Promise<Cluster> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const binDir = controlPlaneBinDir();
  const bin = (name: string): string => join(binDir, name);
  for (const name of [
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kubectl',
    'kwok',
  ]) {
    if (!existsSync(bin(name))) throw new ControlPlaneNotBuiltError(binDir);
  }

  const dir = await mkdtemp(join(tmpdir(), 'sluice-kube-'));
  liveDirs.add(dir);
  const processes: ManagedProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // Reverse start order: clients first, etcd last, so no component spends its grace period retrying.
      for (const p of [...processes].reverse()) await p.stop();
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    })();
    return stopped;
  };
  const start = (name: string, args: readonly string[]): ManagedProcess => {
    const p = new ManagedProcess(name, bin(name), args, join(dir, `${name}.log`));
    processes.push(p);
    return p;
  };

  try {
    const pki = join(dir, 'pki');
    await mkdir(pki);
    const ca = await createCertificateAuthority(pki, 'sluice-test-cluster-ca');
    const address = options.address ?? '127.0.0.1';
    const serviceCidr = options.serviceCidr ?? '10.96.0.0/16';
    const serving = await ca.issue('kube-apiserver', [
      ...new Set(['127.0.0.1', address, firstServiceIp(serviceCidr)]),
      'localhost',
      'kubernetes.default.svc',
    ]);
    // What the apiserver shows a real node's kubelet (which trusts this CA) for port-forward, logs and exec.
    const kubeletClient = await ca.issue('kube-apiserver-kubelet-client', ['127.0.0.1']);
    const serviceAccountKey = await createSigningKey(pki, 'service-account');

    const token = randomBytes(24).toString('hex');
    const tokenFile = join(pki, 'tokens.csv');
    await writeFile(tokenFile, `${token},sluice-test-admin,sluice-test-admin,"system:masters"\n`, {
      mode: 0o600,
    });

    const etcdPort = await freePort();
    const etcdPeerPort = await freePort();
    const apiPort = await freePort();
    const controllerManagerPort = await freePort();
    const schedulerPort = await freePort();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const server = `https://${address}:${apiPort}`;

    const etcd = start('etcd', [
      '--name=sluice-test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=sluice-test=http://127.0.0.1:${etcdPeerPort}`,
      // A throwaway store: durability only costs time.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await eventually('etcd /health', async () => (await httpGet(`${etcdUrl}/health`)).status === 200, {
      timeoutMs,
      process: etcd,
    });

    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--bind-address=${address}`,
      `--advertise-address=${address}`,
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      `--tls-cert-file=${serving.certPath}`,
      `--tls-private-key-file=${serving.keyPath}`,
      `--client-ca-file=${ca.certPath}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=RBAC',
      // On by default too; named here because the end-to-end tier exists to exercise them.
      '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${serviceAccountKey.publicKeyPath}`,
      `--service-account-signing-key-file=${serviceAccountKey.keyPath}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      '--allow-privileged=true',
      '--profiling=false',
      `--kubelet-client-certificate=${kubeletClient.certPath}`,
      `--kubelet-client-key=${kubeletClient.keyPath}`,
      // A real node's name resolves nowhere on this machine; its --node-ip does.
      '--kubelet-preferred-address-types=InternalIP,Hostname',
    ];
    let apiserver = start('kube-apiserver', apiserverArgs);

    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfig(server, ca.cert, token), { mode: 0o600 });
    const authorization = { authorization: `Bearer ${token}` };
    const apiserverReady = (): Promise<unknown> =>
      eventually(
        'kube-apiserver /readyz',
        async () =>
          (await httpGet(`${server}/readyz`, { ca: ca.cert, headers: authorization })).status === 200,
        { timeoutMs, process: apiserver },
      );
    await apiserverReady();

    const componentArgs = (port: number): string[] => [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      '--leader-elect=false',
    ];
    const controllerManager = start('kube-controller-manager', [
      ...componentArgs(controllerManagerPort),
      `--cert-dir=${join(dir, 'controller-manager-certs')}`,
      `--root-ca-file=${ca.certPath}`,
      `--service-account-private-key-file=${serviceAccountKey.keyPath}`,
      '--use-service-account-credentials=false',
      `--service-cluster-ip-range=${serviceCidr}`,
      // kwok renews the fake Node's lease; when a loaded machine delays it past the grace period (50 s), the
      // node lifecycle controller marks every Pod on the Node not Ready, and kwok never marks them Ready again:
      // ReplicaSets stay at READY 0 with their Pods "Running 1/1". No kubelet here can really be lost. (The
      // controller stays on: it lifts the not-ready taint a new Node is created with.)
      '--node-monitor-grace-period=1h',
      ...(options.controllerManagerQps === undefined
        ? []
        : [
            `--kube-api-qps=${options.controllerManagerQps}`,
            `--kube-api-burst=${options.controllerManagerQps * 2}`,
          ]),
    ]);
    const scheduler = start('kube-scheduler', componentArgs(schedulerPort));
    const kwokConfigPath = join(dir, 'kwok.yaml');
    await writeFile(kwokConfigPath, kwokConfig());
    const kwok = start('kwok', [
      `--config=${kwokConfigPath}`,
      `--kubeconfig=${kubeconfigPath}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--cidr=10.244.0.0/16',
      '--node-ip=10.0.0.1',
    ]);

    const kubectlPath = bin('kubectl');
    const tryKubectl = (args: readonly string[], opts: KubectlOptions = {}): Promise<RunResult> =>
      run(kubectlPath, [`--kubeconfig=${opts.kubeconfig ?? kubeconfigPath}`, ...args], opts);
    const kubectl = async (args: readonly string[], opts: KubectlOptions = {}): Promise<string> => {
      const result = await tryKubectl(args, opts);
      if (result.exitCode !== 0) throw new KubectlError(`kubectl ${args.join(' ')}`, result);
      return result.stdout;
    };
    const apply = (...objects: readonly object[]): Promise<string> =>
      kubectl(['apply', '-f', '-'], {
        stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
      });

    await apply(fakeNode(kwokNodeName, options.maxPods ?? 250));

    const healthz = (port: number) => async () =>
      (await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).status === 200;
    await Promise.all([
      eventually('kube-scheduler /healthz', healthz(schedulerPort), { timeoutMs, process: scheduler }),
      eventually('kube-controller-manager /healthz', healthz(controllerManagerPort), {
        timeoutMs,
        process: controllerManager,
      }),
      // Pods are only admitted once their namespace has the default ServiceAccount the controller-manager creates.
      eventually(
        'the default ServiceAccount',
        async () => (await tryKubectl(['get', 'serviceaccount', 'default', '-n', 'default'])).exitCode === 0,
        { timeoutMs, process: controllerManager },
      ),
      eventually(
        `node ${kwokNodeName} Ready`,
        async () =>
          (
            await tryKubectl([
              'get',
              'node',
              kwokNodeName,
              '-o',
              'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
            ])
          ).stdout === 'True',
        { timeoutMs, process: kwok },
      ),
    ]);

    const issueCertificate = async (name: string, hosts: readonly string[] = ['127.0.0.1', 'localhost']) => {
      const { cert, key } = await ca.issue(name, hosts);
      return { cert, key };
    };

    const serviceAccountKubeconfig = async (namespace: string, name: string): Promise<string> => {
      const saToken = (await kubectl(['create', 'token', name, '-n', namespace, '--duration=2h'])).trim();
      const path = join(dir, `kubeconfig-${namespace}-${name}`);
      await writeFile(
        path,
        kubeconfig(server, ca.cert, saToken, `system:serviceaccount:${namespace}:${name}`),
        {
          mode: 0o600,
        },
      );
      return path;
    };

    const logTail = (component: string, lines?: number): string =>
      processes.find((p) => p.name === component)?.logTail(lines) ?? '';

    const restartApiServer = async (meanwhile?: () => Promise<void>): Promise<void> => {
      await apiserver.stop();
      await meanwhile?.();
      const index = processes.indexOf(apiserver);
      apiserver = new ManagedProcess(
        'kube-apiserver',
        bin('kube-apiserver'),
        apiserverArgs,
        join(dir, 'kube-apiserver.log'),
      );
      processes[index] = apiserver;
      await apiserverReady();
    };

    return {
      kubeconfigPath,
      server,
      ca: { cert: ca.cert, certPath: ca.certPath },
      kubectlPath,
      kubectl,
      tryKubectl,
      apply,
      issueCertificate,
      serviceAccountKubeconfig,
      webhookClientConfig: (url) => ({ url, caBundle: Buffer.from(ca.cert).toString('base64') }),
      logTail,
      restartApiServer,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Starts a cluster before the tests of the enclosing `describe` (or file) and stops it after them, pass or
 * fail. Returns a getter for it.
 */
export function useCluster(options: StartClusterOptions = {}): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await startCluster(options);
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('the cluster did not start');
    return cluster;
  };
}

function kubeconfig(server: string, caPem: string, token: string, user = 'sluice-test-admin'): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'sluice-test',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'sluice-test', context: { cluster: 'sluice-test', user } }],
    'current-context': 'sluice-test',
  });
}

/** The Node kwok pretends to run; it has room for `maxPods` Pods and no taint, so any Pod can land on it. */
function fakeNode(name: string, maxPods: number): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: String(maxPods) },
      capacity: { cpu: '32', memory: '256Gi', pods: String(maxPods) },
    },
  };
}

function httpGet(
  url: string,
  options: { ca?: string; headers?: Record<string, string>; insecure?: boolean } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(
      url,
      {
        headers: options.headers,
        timeout: 5_000,
        ...(url.startsWith('https:') && {
          ca: options.ca,
          // Only for the controller-manager's and scheduler's self-signed /healthz on loopback.
          rejectUnauthorized: !options.insecure,
        }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
