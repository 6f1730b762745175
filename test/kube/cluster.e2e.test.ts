import { createServer, type Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kwokNodeName, pinnedKubernetesVersion, useCluster } from '../support/kube.js';
import { eventually } from '../support/eventually.js';

// The harness itself, before anything of sluice runs on it: a real control plane, Pods that reach Running on
// the kwok node, and a webhook on 127.0.0.1 that the apiserver calls.

interface PodList {
  items: { metadata: { name: string }; spec: { nodeName?: string }; status: { phase?: string } }[];
}

describe('the test control plane', () => {
  const started = useCluster();

  it('reports the Kubernetes version pinned in hack/k8s/go.mod', async () => {
    const pinned = pinnedKubernetesVersion();
    const version = JSON.parse(await started().kubectl(['version', '-o', 'json'])) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toBe(pinned);
    expect(version.clientVersion.gitVersion).toBe(pinned);
  });

  it('gives a ServiceAccount a kubeconfig of its own, under its own RBAC', async () => {
    const c = started();
    await c.kubectl(['create', 'namespace', 'smoke-identity']);
    await c.kubectl(['create', 'serviceaccount', 'robot', '-n', 'smoke-identity']);
    const kubeconfig = await c.serviceAccountKubeconfig('smoke-identity', 'robot');

    const asRobot = (...args: string[]) => c.tryKubectl(args, { kubeconfig });
    const whoami = await asRobot('auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}');
    expect(whoami.stdout).toBe('system:serviceaccount:smoke-identity:robot');
    const denied = await asRobot('get', 'pods', '-n', 'smoke-identity');
    expect(denied.exitCode).not.toBe(0);
    expect(denied.stderr).toContain('forbidden');
  });

  it("runs a Deployment's Pods on the kwok node", async () => {
    const c = started();
    await c.kubectl(['create', 'namespace', 'smoke']);
    await c.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'smoke' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 80 }] }],
          },
        },
      },
    });

    await c.kubectl(['rollout', 'status', 'deployment/web', '-n', 'smoke', '--timeout=120s'], {
      timeoutMs: 130_000,
    });

    const pods = JSON.parse(
      await c.kubectl(['get', 'pods', '-n', 'smoke', '-l', 'app=web', '-o', 'json']),
    ) as PodList;
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.spec.nodeName).toBe(kwokNodeName);
      expect(pod.status.phase).toBe('Running');
    }
  });

  describe('with a mutating webhook on 127.0.0.1', () => {
    let webhook: Server | undefined;
    const reviewedKinds: string[] = [];

    beforeAll(async () => {
      const { cert, key } = await started().issueCertificate('smoke-webhook');
      webhook = createServer({ cert, key }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            request: { uid: string; kind: { kind: string } };
          };
          reviewedKinds.push(review.request.kind.kind);
          const patch = [
            { op: 'add', path: '/metadata/labels', value: { 'smoke.sluice.dev/mutated': 'true' } },
          ];
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: {
                uid: review.request.uid,
                allowed: true,
                patchType: 'JSONPatch',
                patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
              },
            }),
          );
        });
      });
      const server = webhook;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });

    afterAll(async () => {
      const server = webhook;
      if (server) await new Promise((resolve) => server.close(resolve));
    });

    it('admits ConfigMaps through it, as registered by a MutatingWebhookConfiguration', async () => {
      const c = started();
      const address = webhook?.address();
      if (!address || typeof address === 'string') throw new Error('the webhook is not listening');
      await c.kubectl(['create', 'namespace', 'smoke-webhook']);
      await c.apply({
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        metadata: { name: 'smoke.sluice.dev' },
        webhooks: [
          {
            name: 'smoke.sluice.dev',
            clientConfig: c.webhookClientConfig(`https://127.0.0.1:${address.port}/mutate`),
            rules: [
              { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] },
            ],
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'smoke-webhook' } },
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 5,
          },
        ],
      });

      // The apiserver picks up a new configuration asynchronously; a server-side dry run shows when it has.
      const labelsOfDryRun = async (): Promise<string> =>
        c.kubectl(
          [
            'create',
            'configmap',
            'probe',
            '-n',
            'smoke-webhook',
            '--dry-run=server',
            '-o',
            'jsonpath={.metadata.labels}',
          ],
          {},
        );
      await eventually(
        'the webhook configuration to take effect',
        async () => (await labelsOfDryRun()).includes('mutated'),
        {
          timeoutMs: 30_000,
        },
      );

      await c.kubectl([
        'create',
        'configmap',
        'settings',
        '-n',
        'smoke-webhook',
        '--from-literal=colour=blue',
      ]);
      const label = await c.kubectl([
        'get',
        'configmap',
        'settings',
        '-n',
        'smoke-webhook',
        '-o',
        'jsonpath={.metadata.labels.smoke\\.sluice\\.dev/mutated}',
      ]);
      expect(label).toBe('true');
      expect(reviewedKinds).toContain('ConfigMap');
    });
  });
});
