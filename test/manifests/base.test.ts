import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OptionSpec } from '../../src/command/options.js';
import { WEBHOOK_NODE_OPTIONS, webhookCommand } from '../../webhook/command.js';
import { manifestsDir, readYaml, type Manifest } from '../support/manifests.js';

/**
 * The base's objects name each other and the commands' defaults (the Secret the webhook keeps its
 * certificate in, the configuration it patches, the controller's URL and identity): these tests keep the two
 * sides in step. The e2e tier applies the base to a real API server.
 */

const { resources } = readYaml(join(manifestsDir, 'kustomization.yaml'))[0] as unknown as {
  resources: string[];
};
const objects = resources.flatMap((file) => readYaml(join(manifestsDir, file)));
const defaults = Object.fromEntries(
  Object.entries(webhookCommand.options).map(([name, spec]: [string, OptionSpec]) => [name, spec.default]),
) as Record<keyof typeof webhookCommand.options, string | undefined>;
const version = (
  JSON.parse(readFileSync(join(manifestsDir, '../package.json'), 'utf8')) as { version: string }
).version;

function find<T>(kind: string, name: string): Manifest & T {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in the base`);
  return found as Manifest & T;
}

interface Container {
  name: string;
  image: string;
  args: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface DeploymentSpec {
  spec: {
    replicas: number;
    template: {
      spec: {
        serviceAccountName: string;
        containers: Container[];
        volumes: { name: string; secret?: { secretName: string; optional?: boolean } }[];
      };
    };
  };
}
interface ServiceSpec {
  spec: { ports: { name: string; port: number; targetPort: string }[] };
}
interface RoleSpec {
  rules: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
}
interface WebhookConfigurationSpec {
  webhooks: {
    name: string;
    clientConfig: {
      caBundle?: string;
      service: { name: string; namespace: string; path: string; port: number };
    };
  }[];
}

const container = (deployment: string): Container => {
  const found = find<DeploymentSpec>('Deployment', deployment).spec.template.spec.containers[0];
  if (found === undefined) throw new Error(`${deployment} has no container`);
  return found;
};
const flag = (c: Container, name: string): string | undefined => c.args[c.args.indexOf(name) + 1];

describe('the kustomize base', () => {
  it("keeps the webhook's certificate in the Secret its RBAC lets it read, and nothing else", () => {
    const role = find<RoleSpec>('Role', 'sluice-webhook');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [defaults.certSecret], verbs: ['get'] },
    ]);
  });

  it('names the MutatingWebhookConfiguration as the webhook patches it, and only that one', () => {
    const configuration = find<WebhookConfigurationSpec>(
      'MutatingWebhookConfiguration',
      defaults.webhookConfiguration ?? '',
    );
    expect(configuration.metadata.name).toBe('sluice-webhook');
    expect(find<RoleSpec>('ClusterRole', 'sluice-webhook').rules).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [defaults.webhookConfiguration],
        verbs: ['get', 'patch'],
      },
    ]);
    // Set by the webhook at start; an applied value would fight it.
    for (const webhook of configuration.webhooks) expect(webhook.clientConfig.caBundle).toBeUndefined();
  });

  it("sends reviews to the webhook's Service, a name its generated certificate is for", () => {
    const { webhooks } = find<WebhookConfigurationSpec>('MutatingWebhookConfiguration', 'sluice-webhook');
    const service = find<ServiceSpec>('Service', 'sluice-webhook');
    const webhook = container('sluice-webhook');
    for (const { clientConfig } of webhooks) {
      expect(clientConfig.service).toEqual({
        name: 'sluice-webhook',
        namespace: defaults.namespace,
        path: '/mutate',
        port: 443,
      });
    }
    expect(defaults.dnsNames?.split(',')).toContain(`sluice-webhook.${defaults.namespace}.svc`);
    expect(service.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    expect(webhook.ports).toEqual([{ name: 'https', containerPort: Number(defaults.port), protocol: 'TCP' }]);
  });

  it("gives the proxies the controller's Service as their route server", () => {
    const service = find<ServiceSpec>('Service', 'sluice-controller');
    const controller = container('sluice-controller');
    const port = service.spec.ports[0];
    expect(defaults.controlUrl).toBe(`http://sluice-controller.${defaults.namespace}:${port?.port}`);
    expect(port?.targetPort).toBe('http');
    expect(controller.ports[0]).toEqual({ name: 'http', containerPort: port?.port, protocol: 'TCP' });
    expect(flag(controller, '--port')).toBe(String(port?.port));
  });

  it("serves the controller's dashboard on loopback, as a named port no Service exposes", () => {
    const controller = container('sluice-controller');
    expect(flag(controller, '--dashboard-address')).toBe('127.0.0.1:8090');
    expect(controller.ports).toContainEqual({ name: 'dashboard', containerPort: 8090, protocol: 'TCP' });
    const services = objects.filter((o) => o.kind === 'Service') as unknown as ServiceSpec[];
    for (const service of services) {
      expect(service.spec.ports.map((p) => p.targetPort)).not.toContain('dashboard');
    }
  });

  it('accepts promotions from the ServiceAccount the controller runs as', () => {
    const serviceAccount = find<DeploymentSpec>('Deployment', 'sluice-controller').spec.template.spec
      .serviceAccountName;
    expect(defaults.controllerIdentity).toBe(`system:serviceaccount:${defaults.namespace}:${serviceAccount}`);
    expect(find<DeploymentSpec>('Deployment', 'sluice-webhook').spec.template.spec.serviceAccountName).toBe(
      'sluice-webhook',
    );
  });

  it('names each controller replica after its pod, for the Lease', () => {
    const env = container('sluice-controller').env ?? [];
    expect(env.find((e) => e.name === 'SLUICE_IDENTITY')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    );
  });

  it.each(['sluice-webhook', 'sluice-controller'])(
    '%s reads the seal key from the Secret created at install time, which the base does not ship',
    (name) => {
      const deployment = find<DeploymentSpec>('Deployment', name);
      const c = container(name);
      const keyFile = flag(c, '--seal-key-file') ?? '';
      const mount = c.volumeMounts.find((m) => m.mountPath === dirname(keyFile));
      const volume = deployment.spec.template.spec.volumes.find((v) => v.name === mount?.name);
      expect(keyFile).toBe('/etc/sluice/seal/key');
      expect(mount?.readOnly).toBe(true);
      expect(volume?.secret).toMatchObject({ secretName: 'sluice-seal-key', optional: false });
      expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
      expect(deployment.spec.replicas).toBe(2);
    },
  );

  it('runs the webhook with the Node.js options the benchmark measured', () => {
    const webhook = find<DeploymentSpec>('Deployment', 'sluice-webhook').spec.template.spec.containers[0];
    expect(webhook?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe(WEBHOOK_NODE_OPTIONS);
  });

  it("runs this package's image, and injects the same image as the proxy", () => {
    const webhook = container('sluice-webhook');
    expect(webhook.image).toBe(`sluice:${version}`);
    expect(container('sluice-controller').image).toBe(webhook.image);
    expect(webhook.env?.find((e) => e.name === 'SLUICE_PROXY_IMAGE')?.value).toBe(webhook.image);
    expect(defaults.proxyImage).toBe(webhook.image);
  });
});
