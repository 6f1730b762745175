import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlPlaneBinDir, type Cluster } from './kube.js';
import {
  createNodeNetwork,
  startServiceRouting,
  type NodeNetwork,
  type ServiceRouting,
} from './node-network.js';
import { CommandFailedError, freePort, ManagedProcess, run, runOrThrow } from './processes.js';
import { eventually } from './eventually.js';

// A Node that really runs containers, next to the cluster startCluster() made: containerd (Debian's, with
// runc) and the kubelet built from the pinned k8s.io/kubernetes module by hack/k8s/build.sh, with a CNI bridge
// on a private /24 that exists only on this machine. Images come from hack/images/build.sh, imported into
// containerd: pods use them with `imagePullPolicy: Never`, and no registry is ever asked. kwok's fake Node
// stays; tests pin their pods here with `nodeSelector` (`node.selector`).

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const CNI_BIN_DIR = '/usr/lib/cni';

export class NodeRuntimeMissingError extends Error {
  readonly code = 'NODE_RUNTIME_MISSING';
  constructor(what: string) {
    super(`the real node needs ${what}: run hack/k8s/build.sh and hack/node-runtime/install.sh`);
    this.name = 'NodeRuntimeMissingError';
  }
}

/** An image from hack/images/build.sh, by the name pods use. */
export interface LocalImages {
  pause: string;
  podinfo?: string | undefined;
  sluice?: string | undefined;
}

export type LocalImage = 'podinfo' | 'sluice';

export interface RealNode {
  name: string;
  /** `nodeSelector` that puts a pod on this node rather than kwok's. */
  selector: Record<string, string>;
  /** The pod network's /24 and the bridge's address in it (the host's side). */
  podSubnet: string;
  images: LocalImages;
  /** `ctr -n k8s.io …` against this node's containerd. */
  ctr(args: readonly string[]): Promise<string>;
  logTail(component: 'containerd' | 'kubelet' | 'kube-proxy' | 'coredns', lines?: number): string;
  /**
   * Removes every pod's containers; stops kube-proxy and CoreDNS, the kubelet and containerd; removes mounts,
   * and the network unless it was given (its maker removes it, after the cluster).
   */
  stop(): Promise<void>;
}

export interface StartNodeOptions {
  timeoutMs?: number;
  /** The images to build (or find cached) and import besides the sandbox's [podinfo]. */
  images?: readonly LocalImage[];
  /**
   * The network from `createNodeNetwork`, made before the cluster (started on its gateway and service
   * range): the node then also routes Services (kube-proxy) and resolves their names (CoreDNS). Without it
   * the node makes a network of its own and starts neither: pods reach pod IPs only.
   */
  network?: NodeNetwork;
}

/** Builds (or finds cached) the images of hack/images/build.sh; minutes cold, a second when cached. */
export async function buildLocalImages(
  which: readonly LocalImage[],
): Promise<Array<{ ref: string; archive: string }>> {
  const out = await runOrThrow(join(repoRoot, 'hack/images/build.sh'), which, { timeoutMs: 1_800_000 });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const [ref = '', archive = ''] = line.split(' ');
      return { ref, archive };
    });
}

export async function startRealNode(cluster: Cluster, options: StartNodeOptions = {}): Promise<RealNode> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  const kubelet = join(controlPlaneBinDir(), 'node', 'kubelet');
  if (!existsSync(kubelet)) throw new NodeRuntimeMissingError(`kubelet in ${kubelet}`);
  for (const bin of ['containerd', 'containerd-shim-runc-v2', 'runc', 'ctr']) {
    if ((await run('sh', ['-c', `command -v ${bin}`])).exitCode !== 0) throw new NodeRuntimeMissingError(bin);
  }
  if (!existsSync(join(CNI_BIN_DIR, 'bridge'))) throw new NodeRuntimeMissingError('CNI plugins');

  const images = await buildLocalImages(options.images ?? ['podinfo']);
  const imageRef = (name: string): string | undefined => images.find((i) => i.ref.includes(`/${name}:`))?.ref;
  const pauseImage = imageRef('pause');
  if (!pauseImage) throw new Error('hack/images/build.sh made no pause image');

  const network = options.network ?? (await createNodeNetwork());
  const { id, bridge, podSubnet: subnet, gateway } = network;
  const name = `sluice-node-${id}`;
  let services: ServiceRouting | undefined;
  const dir = await mkdtemp(join(tmpdir(), 'sluice-node-'));
  const socket = join(dir, 'containerd', 'containerd.sock');
  const processes: ManagedProcess[] = [];
  const ctr = (args: readonly string[]): Promise<string> =>
    runOrThrow('ctr', ['--address', socket, '-n', 'k8s.io', ...args], { timeoutMs: 300_000 });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const [containerd, kubeletProcess] = processes;
      if (kubeletProcess && containerd) {
        // The kubelet stops the pods of a node no longer theirs: through CRI, so that containerd also tears
        // down their network namespaces (CNI DEL).
        await cluster.tryKubectl([
          'delete',
          'pods',
          '--all-namespaces',
          `--field-selector=spec.nodeName=${name}`,
          '--force',
          '--grace-period=0',
        ]);
        await eventually(
          "the node's pods stopped",
          async () => (await ctr(['tasks', 'list', '-q'])).trim() === '',
          { timeoutMs: 60_000, process: kubeletProcess },
        ).catch(() => undefined);
      }
      await services?.stop();
      await kubeletProcess?.stop();
      if (containerd) {
        // Whatever is left (a kubelet that failed): killed and removed, so that their shims exit.
        await removePods(socket).catch(() => undefined);
        await containerd.stop();
      }
      await unmountUnder(dir);
      if (!options.network) await network.stop();
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    // The bridge's address (the gateway) is the node's own (a kubelet refuses a loopback one), where the
    // apiserver reaches the kubelet and this machine reaches the pods.
    await mkdir(join(dir, 'cni'), { recursive: true });
    await writeFile(
      join(dir, 'cni', '10-sluice.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: `sluice-${id}`,
        plugins: [
          {
            type: 'bridge',
            bridge,
            isGateway: true,
            // No masquerading: the pods talk to this machine only, and no iptables rule is left behind.
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet, gateway }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: join(dir, 'cni-ipam'),
            },
          },
        ],
      }),
    );
    await writeFile(join(dir, 'containerd.toml'), containerdConfig(dir, socket, pauseImage));
    const containerd = new ManagedProcess(
      'containerd',
      'containerd',
      ['--config', join(dir, 'containerd.toml')],
      join(dir, 'containerd.log'),
    );
    processes.push(containerd);
    await eventually(
      'containerd',
      async () => (await run('ctr', ['--address', socket, 'version'])).exitCode === 0,
      {
        timeoutMs,
        process: containerd,
      },
    );
    for (const image of images) await ctr(['image', 'import', image.archive]);

    const kubeletPort = await freePort();
    const healthzPort = await freePort();
    await writeFile(
      join(dir, 'kubelet.yaml'),
      JSON.stringify({
        ...kubeletConfig(dir, socket, cluster.ca.certPath, gateway, kubeletPort, healthzPort),
        // Pods resolve Service names at the network's CoreDNS, when the node routes Services.
        ...(options.network ? { clusterDNS: [network.dnsIp], clusterDomain: 'cluster.local' } : {}),
      }),
    );
    const kubeletProcess = new ManagedProcess(
      'kubelet',
      kubelet,
      [
        `--config=${join(dir, 'kubelet.yaml')}`,
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--root-dir=${join(dir, 'kubelet')}`,
        `--cert-dir=${join(dir, 'kubelet-pki')}`,
        `--hostname-override=${name}`,
        `--node-ip=${gateway}`,
        `--node-labels=sluice.dev/test-node=${name}`,
        '--v=1',
      ],
      join(dir, 'kubelet.log'),
    );
    processes.push(kubeletProcess);
    await eventually(
      `node ${name} Ready`,
      async () =>
        (
          await cluster.tryKubectl([
            'get',
            'node',
            name,
            '-o',
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
          ])
        ).stdout === 'True',
      { timeoutMs, process: kubeletProcess },
    );

    if (options.network) services = await startServiceRouting(network, cluster, name, timeoutMs);

    return {
      name,
      selector: { 'kubernetes.io/hostname': name },
      podSubnet: subnet,
      images: { pause: pauseImage, podinfo: imageRef('podinfo'), sluice: imageRef('sluice') },
      ctr,
      logTail: (component, lines) =>
        component === 'kube-proxy' || component === 'coredns'
          ? (services?.logTail(component, lines) ?? '')
          : (processes.find((p) => p.name === component)?.logTail(lines) ?? ''),
      stop: async () => {
        await stop();
        await cluster.tryKubectl(['delete', 'node', name, '--wait=false']);
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function containerdConfig(dir: string, socket: string, sandboxImage: string): string {
  const d = (sub: string): string => JSON.stringify(join(dir, sub));
  return `version = 2
root = ${d('containerd/root')}
state = ${d('containerd/state')}

[grpc]
  address = ${JSON.stringify(socket)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${d('containerd/opt')}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(sandboxImage)}
  # root here lacks CAP_SYS_RESOURCE: without this runc fails to raise a container's oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  # The pods' network namespaces under this node's own state dir, where stop() finds whatever is left.
  netns_mounts_under_state_dir = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(CNI_BIN_DIR)}
    conf_dir = ${d('cni')}
    max_conf_num = 1
`;
}

function kubeletConfig(
  dir: string,
  socket: string,
  clientCaFile: string,
  address: string,
  port: number,
  healthzPort: number,
): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    containerRuntimeEndpoint: `unix://${socket}`,
    address,
    port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort,
    authentication: { anonymous: { enabled: false }, x509: { clientCAFile: clientCaFile } },
    authorization: { mode: 'AlwaysAllow' },
    // This machine: cgroup v1, cgroupfs, no systemd, swap allowed.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    podLogsDirectory: join(dir, 'pod-logs'),
    volumePluginDir: join(dir, 'volume-plugins'),
    // A shared machine's disk and memory are not this node's to police: no eviction, no image GC.
    evictionHard: { 'memory.available': '0%', 'nodefs.available': '0%', 'imagefs.available': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    maxPods: 30,
    resolvConf: '/etc/resolv.conf',
    registerNode: true,
  };
}

/** Stops and removes every pod sandbox's tasks and containers in containerd's k8s.io namespace. */
async function removePods(socket: string): Promise<void> {
  const ctr = (args: readonly string[]) => run('ctr', ['--address', socket, '-n', 'k8s.io', ...args]);
  const ids = (await ctr(['containers', 'list', '-q'])).stdout.split('\n').filter(Boolean);
  for (const id of ids) {
    await ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
  }
  for (const id of ids) {
    await ctr(['tasks', 'delete', '-f', id]);
    await ctr(['containers', 'delete', id]);
  }
}

/** Unmounts whatever is still mounted under `dir` (deepest first). */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) {
    const result = await run('umount', ['-l', point]);
    if (result.exitCode !== 0 && !result.stderr.includes('not mounted')) {
      throw new CommandFailedError(`umount ${point}`, result);
    }
  }
}
