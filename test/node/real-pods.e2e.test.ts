import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../support/kube.js';
import { startRealNode, type RealNode } from '../support/node.js';
import { freePort, ManagedProcess } from '../support/processes.js';
import { eventually } from '../support/eventually.js';

// The minimum proof that the e2e tier can run real containers: podinfo, built from its Go module into an
// image of its own and imported into the node's containerd, runs as a Deployment on the real node, and its
// pod IP (on the node's bridge, on this machine) answers HTTP.

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe('a real node', () => {
  let cluster: Cluster | undefined;
  let node: RealNode | undefined;
  beforeAll(async () => {
    cluster = await startCluster();
    node = await startRealNode(cluster);
  });
  afterAll(async () => {
    await node?.stop();
    await cluster?.stop();
  });

  it('runs podinfo from a locally built image, and its pod IP answers HTTP', async () => {
    if (!cluster || !node) throw new Error('the cluster or the node did not start');
    await cluster.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'podinfo', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'podinfo' } },
        template: {
          metadata: { labels: { app: 'podinfo' } },
          spec: {
            nodeSelector: node.selector,
            containers: [
              {
                name: 'podinfo',
                image: node.images.podinfo ?? 'podinfo-not-built',
                imagePullPolicy: 'Never',
                ports: [{ name: 'http', containerPort: 9898 }],
                readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 2 },
              },
            ],
          },
        },
      },
    });
    await cluster.kubectl(['rollout', 'status', 'deployment/podinfo', '--timeout=180s'], {
      timeoutMs: 200_000,
    });
    const podIP = (
      await cluster.kubectl(['get', 'pods', '-l', 'app=podinfo', '-o', 'jsonpath={.items[0].status.podIP}'])
    ).trim();
    expect(podIP.startsWith(node.podSubnet.replace(/0\/24$/, ''))).toBe(true);

    let answer: { status: number; body: string } | undefined;
    await eventually(
      `podinfo on ${podIP}:9898`,
      async () => {
        answer = await httpGet(`http://${podIP}:9898/`);
        return answer.status === 200;
      },
      { timeoutMs: 30_000 },
    );
    expect(JSON.parse(answer?.body ?? '{}')).toMatchObject({ version: '6.9.2' });
  });
  it("reaches a port bound to the pod's loopback through kubectl port-forward, and only so", async () => {
    // How the controller's dashboard is reached (--dashboard-address 127.0.0.1:8090): the kubelet's
    // port-forward connects inside the pod's network namespace, where loopback is the pod's own.
    if (!cluster || !node) throw new Error('the cluster or the node did not start');
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'loopback-only', namespace: 'default' },
      spec: {
        nodeSelector: node.selector,
        containers: [
          {
            name: 'podinfo',
            image: node.images.podinfo ?? 'podinfo-not-built',
            imagePullPolicy: 'Never',
            args: ['--port=9898', '--host=127.0.0.1'],
            ports: [{ name: 'dashboard', containerPort: 9898 }],
          },
        ],
      },
    });
    await cluster.kubectl(['wait', '--for=condition=Ready', 'pod/loopback-only', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    const dir = await mkdtemp(join(tmpdir(), 'sluice-port-forward-'));
    const port = await freePort();
    const forward = new ManagedProcess(
      'kubectl port-forward',
      cluster.kubectlPath,
      [`--kubeconfig=${cluster.kubeconfigPath}`, 'port-forward', 'pod/loopback-only', `${port}:dashboard`],
      join(dir, 'port-forward.log'),
    );
    try {
      let answer: { status: number; body: string } | undefined;
      await eventually(
        `podinfo through port-forward on 127.0.0.1:${port}`,
        async () => {
          answer = await httpGet(`http://127.0.0.1:${port}/`);
          return answer.status === 200;
        },
        { timeoutMs: 30_000, process: forward },
      );
      expect(JSON.parse(answer?.body ?? '{}')).toMatchObject({ version: '6.9.2' });
      // Listening, as the answer above shows, yet not on the pod network.
      const podIP = (
        await cluster.kubectl(['get', 'pod/loopback-only', '-o', 'jsonpath={.status.podIP}'])
      ).trim();
      await expect(httpGet(`http://${podIP}:9898/`)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await forward.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
