import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlPlaneBinDir, type Cluster } from './kube.js';
import { ManagedProcess, run, runOrThrow } from './processes.js';
import { eventually } from './eventually.js';

// The real node's network, made before the cluster starts (the apiserver listens on its bridge, where pods
// reach it):
//
//   pods ── bridge (pod /24, gateway = node IP = apiserver address) ── this machine's routing
//                                                                        │ service range via veth
//   network namespace sluice-<id>: kube-proxy (iptables mode) and CoreDNS
//
// Services are routed into a network namespace of their own rather than served from this machine's: kube-proxy
// owns its chains (KUBE-SERVICES, …) in whatever namespace it runs in and rewrites them whole, so two tests,
// or a kube-proxy of something else on the machine, would overwrite each other's. Inside its own namespace it
// clashes with nothing, and removing the namespace removes every rule it made. It masquerades every Service
// connection (masqueradeAll), so the backend answers to the namespace, which undoes the translation: the
// route is one-way into the namespace and needs nothing on this machine besides that route and the link.
//
// Addresses: two free private /24s, one for the pods, one for the Services: its lower half the ClusterIP
// range, its last /30 the link (.253 this machine, .254 the namespace, where CoreDNS answers).

export interface NodeNetwork {
  id: string;
  bridge: string;
  /** The pods' /24 and the bridge's address in it: the node's IP, and where the apiserver listens. */
  podSubnet: string;
  gateway: string;
  /** The Services' ClusterIP range, routed into the namespace. */
  serviceCidr: string;
  /** CoreDNS's address: the namespace's end of the link; the kubelet gives it to pods as their resolver. */
  dnsIp: string;
  netns: string;
  /** Removes the namespace, the link and the bridge (stop the processes in the namespace first). */
  stop(): Promise<void>;
}

/** Free private /24s: ones that no route on this machine covers. */
async function freeSubnets(count: number): Promise<string[]> {
  const routes = (await runOrThrow('ip', ['-4', 'route', 'show', 'table', 'all'])).split('\n');
  const picked: string[] = [];
  for (let attempt = 0; attempt < 100 && picked.length < count; attempt++) {
    const [x = 0, c = 0] = randomBytes(2);
    const prefix = `10.${200 + (x % 50)}.${c}.`;
    if (picked.includes(prefix)) continue;
    if (routes.some((r) => r.startsWith(prefix) || r.includes(` ${prefix}`))) continue;
    picked.push(prefix);
  }
  if (picked.length < count) throw new Error(`no ${count} free 10.200-249.x.0/24 for the node's network`);
  return picked;
}

export async function createNodeNetwork(): Promise<NodeNetwork> {
  const id = randomBytes(3).toString('hex');
  // Interface names are at most 15 characters.
  const bridge = `sluice${id}`;
  const hostLink = `sluice${id}v`;
  const netns = `sluice-${id}`;
  const [pods = '', services = ''] = await freeSubnets(2);
  const network: NodeNetwork = {
    id,
    bridge,
    podSubnet: `${pods}0/24`,
    gateway: `${pods}1`,
    serviceCidr: `${services}0/25`,
    dnsIp: `${services}254`,
    netns,
    stop: async () => {
      await run('ip', ['netns', 'del', netns]);
      await run('ip', ['link', 'del', hostLink]);
      await run('ip', ['link', 'del', bridge]);
    },
  };
  const inNetns = (args: readonly string[]) => runOrThrow('ip', ['netns', 'exec', netns, ...args]);
  try {
    await runOrThrow('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
    await runOrThrow('ip', ['addr', 'add', `${network.gateway}/24`, 'dev', bridge]);
    await runOrThrow('ip', ['link', 'set', bridge, 'up']);

    await runOrThrow('ip', ['netns', 'add', netns]);
    await runOrThrow('ip', [
      'link',
      'add',
      hostLink,
      'type',
      'veth',
      'peer',
      'name',
      'services',
      'netns',
      netns,
    ]);
    await runOrThrow('ip', ['addr', 'add', `${services}253/30`, 'dev', hostLink]);
    await runOrThrow('ip', ['link', 'set', hostLink, 'up']);
    await inNetns(['ip', 'link', 'set', 'lo', 'up']);
    await inNetns(['ip', 'addr', 'add', `${network.dnsIp}/30`, 'dev', 'services']);
    await inNetns(['ip', 'link', 'set', 'services', 'up']);
    await inNetns(['ip', 'route', 'add', 'default', 'via', `${services}253`]);
    // kube-proxy's DNAT sends the connection on to a pod, back out of the namespace.
    await inNetns(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await runOrThrow('ip', ['route', 'add', network.serviceCidr, 'via', network.dnsIp, 'dev', hostLink]);
    return network;
  } catch (err) {
    await network.stop();
    throw err;
  }
}

export interface ServiceRouting {
  logTail(component: 'kube-proxy' | 'coredns', lines?: number): string;
  stop(): Promise<void>;
}

/** CoreDNS, from hack/k8s/build.sh like the control plane. */
export function corednsPath(): string {
  return join(controlPlaneBinDir(), 'dns', 'coredns');
}

/**
 * Starts kube-proxy and CoreDNS in the network's namespace, for the node `nodeName`, and resolves once a
 * ClusterIP (the `kubernetes` Service's) is routed and `kubernetes.default.svc.cluster.local` resolves.
 */
export async function startServiceRouting(
  network: NodeNetwork,
  cluster: Cluster,
  nodeName: string,
  timeoutMs = 120_000,
): Promise<ServiceRouting> {
  const kubeProxy = join(controlPlaneBinDir(), 'node', 'kube-proxy');
  const coredns = corednsPath();
  for (const bin of [kubeProxy, coredns]) {
    if (!existsSync(bin)) throw new Error(`the real node's Services need ${bin}: run hack/k8s/build.sh`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'sluice-services-'));
  const processes: ManagedProcess[] = [];
  const inNetns = (name: string, bin: string, args: readonly string[]): ManagedProcess => {
    // `ip netns exec` execs the command: the PID is kube-proxy's (CoreDNS's) own.
    const p = new ManagedProcess(
      name,
      'ip',
      ['netns', 'exec', network.netns, bin, ...args],
      join(dir, `${name}.log`),
    );
    processes.push(p);
    return p;
  };
  const stop = async (): Promise<void> => {
    for (const p of processes.reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await writeFile(
      join(dir, 'kube-proxy.yaml'),
      JSON.stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: cluster.kubeconfigPath },
        hostnameOverride: nodeName,
        mode: 'iptables',
        clusterCIDR: network.podSubnet,
        // Its ports are the namespace's, and no one else's.
        healthzBindAddress: '127.0.0.1:10256',
        metricsBindAddress: '127.0.0.1:10249',
        nodePortAddresses: [`${network.dnsIp}/32`],
        iptables: { masqueradeAll: true, minSyncPeriod: '0s', syncPeriod: '30s' },
        // Conntrack limits and timeouts are left as the machine has them (0: do not set).
        conntrack: {
          maxPerCore: 0,
          min: 0,
          tcpEstablishedTimeout: '0s',
          tcpCloseWaitTimeout: '0s',
          udpTimeout: '0s',
          udpStreamTimeout: '0s',
        },
      }),
    );
    const proxy = inNetns('kube-proxy', kubeProxy, [`--config=${join(dir, 'kube-proxy.yaml')}`, '--v=1']);

    // Only the cluster's names; anything else is refused, never forwarded off the machine.
    await writeFile(
      join(dir, 'Corefile'),
      `cluster.local:53 in-addr.arpa:53 {
  bind ${network.dnsIp}
  errors
  kubernetes cluster.local in-addr.arpa {
    kubeconfig ${cluster.kubeconfigPath}
  }
}
`,
    );
    const dns = inNetns('coredns', coredns, ['-conf', join(dir, 'Corefile')]);

    const kubernetesIp = (
      await cluster.kubectl([
        'get',
        'service',
        'kubernetes',
        '-n',
        'default',
        '-o',
        'jsonpath={.spec.clusterIP}',
      ])
    ).trim();
    await eventually(
      `kube-proxy routing ${kubernetesIp}`,
      async () =>
        (await run('ip', ['netns', 'exec', network.netns, 'iptables-save', '-t', 'nat'])).stdout.includes(
          `-d ${kubernetesIp}/32`,
        ),
      { timeoutMs, process: proxy },
    );
    await eventually(
      'CoreDNS answering kubernetes.default.svc.cluster.local',
      async () => (await resolve(network, 'kubernetes.default.svc.cluster.local')) === kubernetesIp,
      { timeoutMs, process: dns },
    );
    return { logTail: (c, lines) => processes.find((p) => p.name === c)?.logTail(lines) ?? '', stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A name's A record from the network's CoreDNS, or undefined. */
export async function resolve(network: NodeNetwork, name: string): Promise<string | undefined> {
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([network.dnsIp]);
  try {
    return (await resolver.resolve4(name))[0];
  } catch {
    return undefined;
  }
}

/** A network namespace of the test's own, joined to this machine by one link. */
export interface LinkedNamespace {
  readonly netns: string;
  /** The namespace's end of the link: where a server inside it is reached from this machine. */
  readonly address: string;
  /** Removes the namespace and the link (stop the processes in the namespace first). */
  stop(): Promise<void>;
}

/**
 * For a server that cannot be told to listen on loopback only (it binds every interface): inside this
 * namespace "every interface" is its loopback and the link, so it is reachable from this machine and
 * from nowhere else.
 */
export async function createLinkedNamespace(): Promise<LinkedNamespace> {
  const id = randomBytes(3).toString('hex');
  const netns = `sluice-${id}`;
  const hostLink = `sluice${id}l`;
  const [subnet = ''] = await freeSubnets(1);
  const linked: LinkedNamespace = {
    netns,
    address: `${subnet}2`,
    stop: async () => {
      await run('ip', ['netns', 'del', netns]);
      await run('ip', ['link', 'del', hostLink]);
    },
  };
  const inNetns = (args: readonly string[]) => runOrThrow('ip', ['netns', 'exec', netns, ...args]);
  try {
    await runOrThrow('ip', ['netns', 'add', netns]);
    await runOrThrow('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'lt0', 'netns', netns]);
    await runOrThrow('ip', ['addr', 'add', `${subnet}1/30`, 'dev', hostLink]);
    await runOrThrow('ip', ['link', 'set', hostLink, 'up']);
    await inNetns(['ip', 'link', 'set', 'lo', 'up']);
    await inNetns(['ip', 'addr', 'add', `${linked.address}/30`, 'dev', 'lt0']);
    await inNetns(['ip', 'link', 'set', 'lt0', 'up']);
    return linked;
  } catch (err) {
    await linked.stop();
    throw err;
  }
}
