import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kwokNodeName, startCluster, type Cluster } from '../support/kube.js';
import { manifestsDir } from '../support/manifests.js';
import { createNodeNetwork, type NodeNetwork } from '../support/node-network.js';
import { startRealNode, type RealNode } from '../support/node.js';
import { RELEASE_ANNOTATIONS, type CanaryJson } from '../support/podinfo-release.js';
import { getOnce, startLoad, type LoadStats } from '../support/service-load.js';
import { eventually } from '../support/eventually.js';

// sluice installed as docs/install.md says, on a node that runs containers: `kubectl apply -k` of an overlay
// of manifests/ that only renames the image (built from the Dockerfile), the webhook and the controller in
// real pods under their ServiceAccounts, then podinfo opted in and released twice through the podinfo
// Service: one release promoted, one rolled back. The node routes Services with kube-proxy and resolves
// their names with CoreDNS (test/support/node-network.ts), as the injected proxy's control URL and the
// canary URL are Service names.

const NAMESPACE = 'shop';
/** The load while a release runs: bounded, and a little over 100 requests a second. */
const RELEASE_LOAD = { concurrency: 4, maxRequests: 20_000, maxMs: 300_000, pauseMs: 20 };

interface PodJson {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: {
    serviceAccountName?: string;
    nodeName?: string;
    initContainers?: { name: string; image: string }[];
  };
  status: {
    phase?: string;
    podIP?: string;
    initContainerStatuses?: { name: string; started?: boolean; ready: boolean }[];
    containerStatuses?: { name: string; ready: boolean }[];
  };
}

const count = (stats: LoadStats, route: string): number => stats.routes.get(route) ?? 0;
const summary = (stats: LoadStats): string =>
  JSON.stringify({
    sent: stats.sent,
    statuses: Object.fromEntries(stats.statuses),
    routes: Object.fromEntries(stats.routes),
    messages: Object.fromEntries(stats.messages),
    errors: stats.errors.slice(0, 5),
  });

describe('sluice installed from manifests/ on a node that runs containers', () => {
  let network: NodeNetwork | undefined;
  let cluster: Cluster | undefined;
  let node: RealNode | undefined;
  let overlayDir: string | undefined;

  const c = (): Cluster => {
    if (!cluster) throw new Error('the cluster did not start');
    return cluster;
  };
  const getJson = async <T>(args: readonly string[]): Promise<T> =>
    JSON.parse(await c().kubectl([...args, '-o', 'json'])) as T;
  /** The pods of a selector, but those terminating (a rollout is complete before they are gone). */
  const pods = async (namespace: string, selector: string): Promise<PodJson[]> =>
    (await getJson<{ items: PodJson[] }>(['get', 'pods', '-n', namespace, '-l', selector])).items.filter(
      (pod) => pod.metadata.deletionTimestamp === undefined,
    );
  const canary = (): Promise<CanaryJson> =>
    getJson<CanaryJson>(['get', 'canary', 'podinfo', '-n', NAMESPACE]);
  const serviceUrl = async (name: string): Promise<string> => {
    const ip = (
      await c().kubectl(['get', 'service', name, '-n', NAMESPACE, '-o', 'jsonpath={.spec.clusterIP}'])
    ).trim();
    return `http://${ip}:9898`;
  };
  /** A new version of podinfo: only its message changes, which tells which release answered. */
  const newVersion = (message: string): Promise<string> =>
    c().kubectl(['set', 'env', 'deployment/podinfo', '-n', NAMESPACE, `PODINFO_UI_MESSAGE=${message}`]);
  /** What the cluster's parts said, for a failure's message. */
  const diagnostics = async (): Promise<string> =>
    [
      (await c().tryKubectl(['get', 'pods', '-A', '-o', 'wide'])).stdout,
      (await c().tryKubectl(['get', 'canary', '-A', '-o', 'yaml'])).stdout.slice(-3000),
      (
        await c().tryKubectl([
          'logs',
          '-n',
          'sluice-system',
          '-l',
          'app.kubernetes.io/component=controller',
          '--tail=30',
        ])
      ).stdout,
      node?.logTail('kube-proxy', 10),
    ].join('\n');

  beforeAll(async () => {
    network = await createNodeNetwork();
    cluster = await startCluster({ address: network.gateway, serviceCidr: network.serviceCidr });
    // Every pod goes to the real node: kwok's fake one would take some and never run them.
    await cluster.kubectl(['delete', 'node', kwokNodeName]);
    node = await startRealNode(cluster, { network, images: ['podinfo', 'sluice'], timeoutMs: 300_000 });
  }, 1_800_000);

  afterAll(async () => {
    await node?.stop();
    await cluster?.stop();
    await network?.stop();
    if (overlayDir) await rm(overlayDir, { recursive: true, force: true });
  });

  it('installs with kubectl apply -k: the webhook and the controller run in pods and the webhook patches caBundle', async () => {
    const image = node?.images.sluice;
    if (!image) throw new Error('hack/images/build.sh made no sluice image');
    const colon = image.lastIndexOf(':');
    // The overlay of docs/install.md: the image renamed, for the webhook's proxy too.
    overlayDir = await mkdtemp(join(tmpdir(), 'sluice-overlay-'));
    await writeFile(
      join(overlayDir, 'kustomization.yaml'),
      JSON.stringify({
        resources: [relative(overlayDir, manifestsDir)],
        images: [{ name: 'sluice', newName: image.slice(0, colon), newTag: image.slice(colon + 1) }],
        patches: [
          {
            patch: JSON.stringify({
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: 'sluice-webhook' },
              spec: {
                template: {
                  spec: {
                    containers: [{ name: 'webhook', env: [{ name: 'SLUICE_PROXY_IMAGE', value: image }] }],
                  },
                },
              },
            }),
          },
        ],
      }),
    );
    await c().kubectl(['create', 'namespace', 'sluice-system']);
    await c().kubectl([
      'create',
      'secret',
      'generic',
      'sluice-seal-key',
      '-n',
      'sluice-system',
      `--from-literal=key=${randomBytes(32).toString('hex')}`,
    ]);
    await c().kubectl(['apply', '--server-side', '-k', overlayDir]);
    for (const deployment of ['sluice-webhook', 'sluice-controller']) {
      await c().kubectl(
        ['rollout', 'status', `deployment/${deployment}`, '-n', 'sluice-system', '--timeout=300s'],
        {
          timeoutMs: 310_000,
        },
      );
    }
    const webhookPods = await pods('sluice-system', 'app.kubernetes.io/component=webhook');
    expect(webhookPods).toHaveLength(2);
    for (const pod of webhookPods) {
      expect(pod.spec.serviceAccountName).toBe('sluice-webhook');
      expect(pod.spec.nodeName).toBe(node?.name);
      expect(pod.status.podIP?.startsWith(network?.podSubnet.replace(/0\/24$/, '') ?? '-')).toBe(true);
    }
    // The manifests' metrics provider: the controller scrapes the proxies at their pod IPs.
    expect(
      await c().kubectl([
        'get',
        'deployment/sluice-controller',
        '-n',
        'sluice-system',
        '-o',
        'jsonpath={.spec.template.spec.containers[0].args}',
      ]),
    ).toContain('"--metrics-provider","direct"');
    const controllerPods = await pods('sluice-system', 'app.kubernetes.io/component=controller');
    expect(controllerPods.map((p) => p.spec.serviceAccountName)).toEqual([
      'sluice-controller',
      'sluice-controller',
    ]);
    await eventually(
      'the webhook to patch caBundle',
      async () =>
        (
          await c().kubectl([
            'get',
            'mutatingwebhookconfiguration',
            'sluice-webhook',
            '-o',
            'jsonpath={.webhooks[0].clientConfig.caBundle}',
          ])
        ).trim() !== '',
      { timeoutMs: 60_000 },
    );
  }, 900_000);

  it('injects the proxy into podinfo when it opts in, and the podinfo Service answers through it', async () => {
    const image = node?.images.podinfo;
    if (!image) throw new Error('hack/images/build.sh made no podinfo image');
    await c().kubectl(['create', 'namespace', NAMESPACE]);
    await c().apply(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'podinfo', namespace: NAMESPACE },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'podinfo' } },
          template: {
            metadata: { labels: { app: 'podinfo' } },
            spec: {
              containers: [
                {
                  name: 'podinfo',
                  image,
                  env: [{ name: 'PODINFO_UI_MESSAGE', value: 'release-1' }],
                  ports: [{ name: 'http', containerPort: 9898 }],
                  readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 2 },
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'podinfo', namespace: NAMESPACE },
        spec: { selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898, targetPort: 'http' }] },
      },
    );
    await rolledOut('podinfo');
    const url = await serviceUrl('podinfo');
    expect(await getOnce(url, { path: '/' })).toMatchObject({
      status: 200,
      route: 'none',
      message: 'release-1',
    });

    // Opting in changes the pod template (the webhook injects the proxy): the pods restart with it.
    await c().kubectl([
      'annotate',
      'deployment/podinfo',
      '-n',
      NAMESPACE,
      ...Object.entries(RELEASE_ANNOTATIONS).map(([k, v]) => `${k}=${v}`),
    ]);
    await rolledOut('podinfo');
    const podinfoPods = await pods(NAMESPACE, 'app=podinfo');
    expect(podinfoPods).toHaveLength(2);
    for (const pod of podinfoPods) {
      const proxy = pod.spec.initContainers?.find((container) => container.name === 'sluice-proxy');
      // A native sidecar on 1.36, from the image the webhook was told to inject.
      expect(proxy?.image).toBe(node?.images.sluice);
      expect(pod.status.initContainerStatuses?.find((s) => s.name === 'sluice-proxy')).toMatchObject({
        started: true,
        ready: true,
      });
    }
    // The old pods' endpoints leave the Service once kube-proxy has seen them terminate.
    await throughProxies(url, 'release-1');
  }, 600_000);

  it('releases a new version through the canary Service, steps the weight and promotes it', async () => {
    const url = await serviceUrl('podinfo');
    const load = startLoad(url, [{ path: '/' }, { path: '/', headers: { traffic: 'test' } }], RELEASE_LOAD);
    const weights = new Set<number>();
    try {
      await newVersion('release-2');
      await eventually(
        'the release to be promoted',
        async () => {
          const status = (await canary()).status;
          if (status?.canaryWeight !== undefined) weights.add(status.canaryWeight);
          // The first release's Promoted=True is still there until the controller sees this change: the
          // release is promoted once it has stepped to its last weight and the condition holds again.
          return (
            weights.has(50) &&
            (status?.conditions?.some((cond) => cond.type === 'Promoted' && cond.status === 'True') ?? false)
          );
        },
        { timeoutMs: 240_000, intervalMs: 500 },
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${summary(load.stats)}\n${await diagnostics()}`);
      });
      // The lead check: what the controller scraped from the proxies' pod IPs (the `direct` provider).
      const status = (await canary()).status;
      expect(status?.phase).toBe('Succeeded');
      expect(status?.lastAnalysis?.result).toBe('passed');
    } finally {
      await load.stop();
    }
    const stats = load.stats;
    expect(stats.errors, summary(stats)).toEqual([]);
    expect([...stats.statuses.keys()], summary(stats)).toEqual([200]);
    // `traffic: test` requests went to the canary pods through the canary Service, and weighted plain ones too.
    expect(count(stats, 'canary'), summary(stats)).toBeGreaterThan(0);
    expect(stats.messages.get('release-2'), summary(stats)).toBeGreaterThan(0);
    expect([...weights]).toEqual(expect.arrayContaining([20, 50]));

    await rolledOut('podinfo');
    await throughProxies(url, 'release-2');
  }, 600_000);

  it('loses no request while a primary pod is deleted (SIGTERM) under load', async () => {
    const url = await serviceUrl('podinfo');
    const [victim] = await pods(NAMESPACE, 'app=podinfo');
    if (!victim) throw new Error('no podinfo pod');
    const load = startLoad(url, [{ path: '/' }], { concurrency: 4, maxRequests: 20_000, maxMs: 240_000 });
    await eventually('the load to start', () => Promise.resolve(load.stats.sent > 50), { timeoutMs: 30_000 });
    // Returns once the pod is gone: its proxy and app stopped, its endpoint removed.
    await c().kubectl(
      ['delete', 'pod', victim.metadata.name, '-n', NAMESPACE, '--wait=true', '--timeout=120s'],
      {
        timeoutMs: 130_000,
      },
    );
    await rolledOut('podinfo');
    // The load covered the whole deletion, and the replacement's start.
    expect(load.running(), summary(load.stats)).toBe(true);
    const stats = await load.stop();
    expect(stats.errors, summary(stats)).toEqual([]);
    expect([...stats.statuses.keys()], summary(stats)).toEqual([200]);
  }, 300_000);

  it("rolls a release back when its canary answers podinfo's /status/500", async () => {
    const url = await serviceUrl('podinfo');
    // Plain requests stay on the primaries (and the canary's weighted share); every `traffic: test` request
    // reaches the canary, and asks it for a 500.
    const load = startLoad(
      url,
      [{ path: '/' }, { path: '/status/500', headers: { traffic: 'test' } }],
      RELEASE_LOAD,
    );
    try {
      await newVersion('release-3');
      await eventually('the rollback', async () => (await canary()).status?.phase === 'Failed', {
        timeoutMs: 240_000,
        intervalMs: 500,
      }).catch(async (err: Error) => {
        throw new Error(`${err.message}\n${summary(load.stats)}\n${await diagnostics()}`);
      });
    } finally {
      await load.stop();
    }
    const status = (await canary()).status;
    expect(status?.outcome?.reason).toBe('RolledBack');
    expect(status?.lastAnalysis?.result).toBe('failed');
    expect(load.stats.errors, summary(load.stats)).toEqual([]);
    // The primaries never left release-2.
    expect(await getOnce(url, { path: '/' })).toMatchObject({
      status: 200,
      route: 'primary',
      message: 'release-2',
    });
  }, 600_000);

  /** Waits until 20 requests in a row are answered by the primaries' proxies, with the release's message. */
  async function throughProxies(url: string, message: string): Promise<void> {
    const expected = JSON.stringify({ status: 200, route: 'primary', message });
    let inARow = 0;
    let last = '';
    await eventually(
      `the podinfo Service to answer through the proxies with ${message}`,
      async () => {
        last = JSON.stringify(await getOnce(url, { path: '/' }));
        inARow = last === expected ? inARow + 1 : 0;
        return inARow >= 20;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the last answer: ${last}`);
    });
  }

  async function rolledOut(deployment: string): Promise<void> {
    await c().kubectl(['rollout', 'status', `deployment/${deployment}`, '-n', NAMESPACE, '--timeout=300s'], {
      timeoutMs: 310_000,
    });
  }
});
