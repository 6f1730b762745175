import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSealKey } from '../../src/candidate.js';
import { parseOptions } from '../../src/command/options.js';
import { controllerCommand } from '../../src/controller/command.js';
import { webhookCommand } from '../../webhook/command.js';
import { chartDifferences, chartDir, objectKey } from '../support/chart.js';
import { tryHelmOffline } from '../support/gitops.js';
import { ControlPlaneNotBuiltError, controlPlaneBinDir } from '../support/kube.js';
import { manifestsDir, parseManifests, type Manifest } from '../support/manifests.js';
import { runOrThrow } from '../support/processes.js';

// The chart as helm lints and renders it, with no cluster: the default values against the kustomize base
// (rendered by kubectl's kustomize), and what each value changes. test/charts/install.e2e.test.ts installs it.

let home = '';
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'sluice-chart-'));
});
afterAll(async () => {
  if (home !== '') await rm(home, { recursive: true, force: true });
});

async function helm(args: readonly string[]): Promise<string> {
  const result = await tryHelmOffline(home, args);
  if (result.exitCode !== 0)
    throw new Error(`helm ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

/** The chart's objects for a release `sluice` in `namespace`, with the CRD, and `--set`/`--set-json` values. */
async function render(namespace: string, ...values: string[]): Promise<Manifest[]> {
  return parseManifests(
    await helm(['template', 'sluice', chartDir, '--namespace', namespace, '--include-crds', ...values]),
    'helm template',
  );
}

/** helm's error for values the chart refuses. */
async function refused(...values: string[]): Promise<string> {
  const result = await tryHelmOffline(home, ['template', 'sluice', chartDir, ...values]);
  expect(result.exitCode).not.toBe(0);
  return result.stderr;
}

function find<T = Record<string, unknown>>(objects: readonly Manifest[], key: string): Manifest & T {
  const found = objects.find((o) => objectKey(o) === key);
  if (found === undefined)
    throw new Error(`${key} is not rendered (rendered: ${objects.map(objectKey).join(', ')})`);
  return found as Manifest & T;
}

interface Pod {
  spec: {
    replicas: number;
    template: {
      spec: {
        containers: {
          image: string;
          args: string[];
          env: { name: string; value?: string }[];
          resources: object;
          volumeMounts: { name: string; mountPath: string }[];
        }[];
        volumes: { name: string; secret: { secretName: string } }[];
      };
    };
  };
}
interface WebhookConfiguration {
  webhooks: {
    namespaceSelector: { matchLabels?: object; matchExpressions: object[] };
    clientConfig: { service: { name: string; namespace: string } };
  }[];
}

const container = (objects: readonly Manifest[], name: string) => {
  const found = find<Pod>(objects, `Deployment/${name}`).spec.template.spec.containers[0];
  if (found === undefined) throw new Error(`Deployment/${name} has no container`);
  return found;
};
const webhookOptions = (objects: readonly Manifest[]) => {
  const c = container(objects, 'sluice-webhook');
  return parseOptions(webhookCommand.options, c.args.slice(1), {});
};
const controllerOptions = (objects: readonly Manifest[]) =>
  parseOptions(controllerCommand.options, container(objects, 'sluice-controller').args.slice(1), {});

describe('the chart', () => {
  it('passes helm lint --strict, with default values and with every option set', async () => {
    expect(await helm(['lint', '--strict', chartDir])).toContain('0 chart(s) failed');
    expect(
      await helm([
        'lint',
        '--strict',
        chartDir,
        '--set',
        'metrics.provider=prometheus,metrics.prometheusUrl=http://prometheus.monitoring:9090',
        '--set',
        'certificates.mode=cert-manager,watchNamespace=shop,sealKey.existingSecret=my-key',
      ]),
    ).toContain('0 chart(s) failed');
  });

  it('renders, with default values, what the kustomize base renders', async () => {
    const kubectl = join(controlPlaneBinDir(), 'kubectl');
    if (!existsSync(kubectl)) throw new ControlPlaneNotBuiltError(controlPlaneBinDir());
    const base = parseManifests(await runOrThrow(kubectl, ['kustomize', manifestsDir]), 'kubectl kustomize');
    const chart = await render('sluice-system');
    expect(
      chartDifferences(base, chart, {
        onlyInBase: {
          'Namespace/sluice-system': "the release's namespace: helm install --namespace … --create-namespace",
        },
        onlyInChart: {
          'Secret/sluice-seal-key':
            'the seal key the chart generates once per cluster (sealKey.existingSecret)',
        },
      }),
    ).toEqual([]);
  });

  it("puts every namespaced object, and every name the parts give each other, in the release's namespace", async () => {
    const objects = await render('delivery');
    const clusterScoped = new Set([
      'CustomResourceDefinition',
      'ClusterRole',
      'ClusterRoleBinding',
      'MutatingWebhookConfiguration',
    ]);
    for (const o of objects.filter((o) => !clusterScoped.has(o.kind)))
      expect(`${objectKey(o)} in ${o.metadata.namespace}`).toBe(`${objectKey(o)} in delivery`);
    const webhook = webhookOptions(objects);
    expect(webhook.controllerIdentity).toBe('system:serviceaccount:delivery:sluice-controller');
    expect(webhook.controlUrl).toBe('http://sluice-controller.delivery:8080');
    expect(webhook.dnsNames).toContain('sluice-webhook.delivery.svc');
    const { webhooks } = find<WebhookConfiguration>(objects, 'MutatingWebhookConfiguration/sluice-webhook');
    for (const w of webhooks) {
      expect(w.clientConfig.service).toMatchObject({ name: 'sluice-webhook', namespace: 'delivery' });
      expect(w.namespaceSelector.matchExpressions).toEqual([
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'delivery'] },
      ]);
    }
    for (const binding of ['ClusterRoleBinding/sluice-controller', 'ClusterRoleBinding/sluice-webhook'])
      expect(find<{ subjects: { namespace: string }[] }>(objects, binding).subjects[0]?.namespace).toBe(
        'delivery',
      );
  });

  it('takes the image, replicas and resources from values, and injects the same image as the proxy', async () => {
    const objects = await render(
      'sluice-system',
      '--set',
      'image.repository=registry.example/sluice,image.tag=1.2.3,image.pullPolicy=Always',
      '--set',
      'webhook.replicas=3,controller.replicas=4',
      '--set-json',
      'controller.resources={"requests":{"cpu":"1"},"limits":{"memory":"1Gi"}}',
    );
    for (const name of ['sluice-webhook', 'sluice-controller'])
      expect(container(objects, name)).toMatchObject({
        image: 'registry.example/sluice:1.2.3',
        imagePullPolicy: 'Always',
      });
    const proxyImage = container(objects, 'sluice-webhook').env.find((e) => e.name === 'SLUICE_PROXY_IMAGE');
    expect(proxyImage?.value).toBe('registry.example/sluice:1.2.3');
    expect(find<Pod>(objects, 'Deployment/sluice-webhook').spec.replicas).toBe(3);
    expect(find<Pod>(objects, 'Deployment/sluice-controller').spec.replicas).toBe(4);
    // Helm merges a map given on the command line into the default's (null removes a key).
    expect(container(objects, 'sluice-controller').resources).toEqual({
      requests: { cpu: '1', memory: '128Mi' },
      limits: { memory: '1Gi' },
    });
  });

  it('reads metrics from Prometheus when asked, and refuses the provider without its URL', async () => {
    const objects = await render(
      'sluice-system',
      '--set',
      'metrics.provider=prometheus,metrics.prometheusUrl=http://prometheus.monitoring:9090',
    );
    expect(controllerOptions(objects)).toMatchObject({
      metricsProvider: 'prometheus',
      prometheusUrl: 'http://prometheus.monitoring:9090',
    });
    // The webhook is told too: it denies objectives on metric templates only with direct.
    expect(webhookOptions(objects)).toMatchObject({ metricsProvider: 'prometheus' });
    expect(await refused('--set', 'metrics.provider=prometheus')).toContain(
      'metrics.prometheusUrl is required with metrics.provider=prometheus',
    );
    expect(await refused('--set', 'metrics.provider=graphite')).toMatch(
      /metrics\/provider.*'direct', 'prometheus'/,
    );
    expect(await refused('--set', 'webhook.replica=3')).toContain(
      "additional properties 'replica' not allowed",
    );
  });

  it("moves the controller's dashboard, or turns it off, and refuses an address it cannot serve", async () => {
    const ports = (objects: readonly Manifest[]) =>
      (
        container(objects, 'sluice-controller') as unknown as {
          ports: { name: string; containerPort: number }[];
        }
      ).ports;
    const everywhere = await render('sluice-system', '--set', 'controller.dashboardAddress=:9000');
    expect(controllerOptions(everywhere).dashboardAddress).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(ports(everywhere)).toContainEqual({ name: 'dashboard', containerPort: 9000, protocol: 'TCP' });
    const off = await render('sluice-system', '--set', 'controller.dashboardAddress=off');
    expect(controllerOptions(off).dashboardAddress).toBeNull();
    expect(ports(off).map((p) => p.name)).toEqual(['http']);
    expect(await refused('--set', 'controller.dashboardAddress=dashboard.example:8090')).toContain(
      'dashboardAddress',
    );
  });

  it('confines the controller, its RBAC and the webhook to watchNamespace', async () => {
    const objects = await render('sluice-system', '--set', 'watchNamespace=shop');
    expect(controllerOptions(objects).watchNamespace).toBe('shop');
    expect(objects.map(objectKey)).not.toContain('ClusterRoleBinding/sluice-controller');
    const binding = find<{ roleRef: object }>(objects, 'RoleBinding/sluice-controller');
    expect(binding.metadata.namespace).toBe('shop');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'sluice-controller',
    });
    for (const w of find<WebhookConfiguration>(objects, 'MutatingWebhookConfiguration/sluice-webhook')
      .webhooks)
      expect(w.namespaceSelector.matchExpressions).toContainEqual({
        key: 'kubernetes.io/metadata.name',
        operator: 'In',
        values: ['shop'],
      });
  });

  it("adds the user's namespaceSelector to the rule that keeps sluice's own namespace out", async () => {
    const objects = await render(
      'sluice-system',
      '--set-json',
      'webhook.namespaceSelector={"matchLabels":{"sluice.dev/enabled":"true"}}',
    );
    for (const w of find<WebhookConfiguration>(objects, 'MutatingWebhookConfiguration/sluice-webhook')
      .webhooks) {
      expect(w.namespaceSelector).toEqual({
        matchLabels: { 'sluice.dev/enabled': 'true' },
        matchExpressions: [
          { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'sluice-system'] },
        ],
      });
    }
  });

  describe('with cert-manager', () => {
    it("serves cert-manager's certificate for the webhook's Service, and has the CA injected", async () => {
      const objects = await render('delivery', '--set', 'certificates.mode=cert-manager');
      const certificate = find<{ spec: { secretName: string; dnsNames: string[]; issuerRef: object } }>(
        objects,
        'Certificate/sluice-webhook',
      );
      expect(certificate.spec.dnsNames).toContain('sluice-webhook.delivery.svc');
      expect(certificate.spec.issuerRef).toEqual({
        group: 'cert-manager.io',
        kind: 'Issuer',
        name: 'sluice-webhook-selfsigned',
      });
      expect(find(objects, 'Issuer/sluice-webhook-selfsigned').spec).toEqual({ selfSigned: {} });
      const configuration = find(objects, 'MutatingWebhookConfiguration/sluice-webhook');
      expect(configuration.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(
        'delivery/sluice-webhook',
      );

      // The webhook reads the certificate's Secret from the directory it is mounted at.
      const webhook = container(objects, 'sluice-webhook');
      const certDir = webhookOptions(objects).certDir;
      const mount = webhook.volumeMounts.find((m) => m.mountPath === certDir);
      const volumes = find<Pod>(objects, 'Deployment/sluice-webhook').spec.template.spec.volumes;
      expect(volumes.find((v) => v.name === mount?.name)?.secret.secretName).toBe(
        certificate.spec.secretName,
      );

      // It manages no certificate of its own, so it has no role to create Secrets or patch the configuration.
      for (const key of [
        'Role/sluice-webhook',
        'RoleBinding/sluice-webhook',
        'ClusterRole/sluice-webhook',
        'ClusterRoleBinding/sluice-webhook',
      ])
        expect(objects.map(objectKey)).not.toContain(key);
    });

    it('uses an Issuer of the cluster instead when given one', async () => {
      const objects = await render(
        'sluice-system',
        '--set',
        'certificates.mode=cert-manager,certificates.certManager.issuerRef.name=internal-ca,certificates.certManager.issuerRef.kind=ClusterIssuer',
      );
      expect(
        find<{ spec: { issuerRef: object } }>(objects, 'Certificate/sluice-webhook').spec.issuerRef,
      ).toEqual({
        group: 'cert-manager.io',
        kind: 'ClusterIssuer',
        name: 'internal-ca',
      });
      expect(objects.filter((o) => o.kind === 'Issuer')).toEqual([]);
    });
  });

  describe('the seal key', () => {
    it('is 32 random bytes, new on each render without a cluster to look it up in', async () => {
      const key = async (): Promise<string> => {
        const secret = find<{ data: { key: string } }>(
          await render('sluice-system'),
          'Secret/sluice-seal-key',
        );
        expect(secret.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
        return secret.data.key;
      };
      const [first, second] = [await key(), await key()];
      expect(() => parseSealKey(Buffer.from(first, 'base64'))).not.toThrow();
      // Why `helm template` users must bring their own Secret (docs/helm.md, "The seal key").
      expect(second).not.toBe(first);
    });

    it('is read from an existing Secret when named, and then not rendered', async () => {
      const objects = await render('sluice-system', '--set', 'sealKey.existingSecret=cluster-seal-key');
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
      for (const name of ['sluice-webhook', 'sluice-controller']) {
        const volumes = find<Pod>(objects, `Deployment/${name}`).spec.template.spec.volumes;
        expect(volumes.find((v) => v.name === 'seal-key')?.secret.secretName).toBe('cluster-seal-key');
      }
    });
  });
});
