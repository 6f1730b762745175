import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ANNOTATION_PREFIX, parseCanaryAnnotations } from '../../src/annotations.js';
import { decodeCandidate, isSealed, parseSealKey } from '../../src/candidate.js';
import { PROXY_CONTAINER } from '../../src/injection/shape.js';
import { useCluster, type Cluster } from '../support/kube.js';
import { exampleDirs, manifestsDir as manifests } from '../support/manifests.js';
import { runSluice, type SluiceProcess, freePort } from '../support/processes.js';
import { eventually } from '../support/eventually.js';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    template?: {
      spec: {
        containers: {
          name: string;
          image: string;
          args?: string[];
          env?: { name: string; value?: string }[];
        }[];
        initContainers?: { name: string }[];
      };
    };
  };
  data?: Record<string, string>;
  webhooks?: { name: string; clientConfig: { caBundle?: string; url?: string } }[];
}

const examples = exampleDirs();
const exampleDir = (example: string): string => join(manifests, 'examples', example);

describe('the kustomize base', () => {
  const started = useCluster();

  it('renders with kustomize, every object of sluice-system in it', async () => {
    const objects = parseYamlList(await started().kubectl(['kustomize', manifests]));
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'Namespace/sluice-system',
        'CustomResourceDefinition/canaries.sluice.dev',
        'Deployment/sluice-webhook',
        'Service/sluice-webhook',
        'PodDisruptionBudget/sluice-webhook',
        'Deployment/sluice-controller',
        'Service/sluice-controller',
        'PodDisruptionBudget/sluice-controller',
        'MutatingWebhookConfiguration/sluice-webhook',
      ]),
    );
    const clusterScoped = new Set([
      'Namespace',
      'CustomResourceDefinition',
      'ClusterRole',
      'ClusterRoleBinding',
      'MutatingWebhookConfiguration',
    ]);
    for (const o of objects.filter((o) => !clusterScoped.has(o.kind))) {
      expect(`${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`).toBe(
        `${o.kind}/${o.metadata.name} in sluice-system`,
      );
    }
  });

  it('passes a server-side dry run of kubectl apply', async () => {
    const c = started();
    // A dry run creates nothing, so the objects inside sluice-system need the namespace to exist already.
    await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sluice-system' } });
    const out = await c.kubectl(['apply', '--server-side', '--dry-run=server', '-k', manifests]);
    expect(out).toContain(
      'customresourcedefinition.apiextensions.k8s.io/canaries.sluice.dev serverside-applied',
    );
    expect(out).toContain(
      'mutatingwebhookconfiguration.admissionregistration.k8s.io/sluice-webhook serverside-applied',
    );
  });

  // Before the base is applied, so no webhook is registered yet: these check the objects themselves. The
  // webhook's own answer to them is checked below, once it runs.
  it.each(examples)(
    'renders the %s example, whose annotations pass the schema, and passes a server-side dry run',
    async (example) => {
      const c = started();
      const rendered = parseYamlList(await c.kubectl(['kustomize', exampleDir(example)]));
      const opted = rendered.filter((o) => o.kind === 'Deployment' && sluiceAnnotations(o).length > 0);
      expect(opted.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['demo/podinfo']);
      for (const deployment of opted) {
        const result = parseCanaryAnnotations(Object.fromEntries(sluiceAnnotations(deployment)));
        expect(result.ok ? [] : result.errors.map((e) => e.message)).toEqual([]);
      }
      await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
      const out = await c.kubectl(['apply', '--server-side', '--dry-run=server', '-k', exampleDir(example)]);
      expect(out).toContain('deployment.apps/podinfo serverside-applied');
      expect(out).toContain('service/podinfo serverside-applied');
    },
  );

  describe('once applied', () => {
    beforeAll(async () => {
      await started().kubectl(['apply', '--server-side', '-k', manifests]);
      await started().kubectl([
        'wait',
        '--for=condition=Established',
        'crd/canaries.sluice.dev',
        '--timeout=60s',
      ]);
    });

    it('lists Canaries with the release columns and lets kubectl wait for Promoted', async () => {
      const c = started();
      await c.kubectl(['create', 'namespace', 'shop']);
      await c.apply({
        apiVersion: 'sluice.dev/v1alpha1',
        kind: 'Canary',
        metadata: { name: 'podinfo', namespace: 'shop' },
        spec: { targetRef: { name: 'podinfo' } },
      });
      const status = {
        phase: 'Succeeded',
        canaryWeight: 0,
        failedChecks: 1,
        candidateRevision: '0123456789',
        lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        conditions: [
          {
            type: 'Promoted',
            status: 'True',
            reason: 'Promoted',
            message: 'candidate 0123456789 promoted',
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      };
      await c.kubectl([
        'patch',
        'canary',
        'podinfo',
        '-n',
        'shop',
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status }),
      ]);

      const table = await c.kubectl(['get', 'canaries', '-n', 'shop']);
      const [header, row] = table.trim().split('\n');
      expect(header?.split(/\s{2,}/)).toEqual([
        'NAME',
        'STATUS',
        'WEIGHT',
        'FAILED',
        'CANDIDATE',
        'LAST TRANSITION',
      ]);
      expect(row?.split(/\s+/).slice(0, 5)).toEqual(['podinfo', 'Succeeded', '0', '1', '0123456789']);

      await c.kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', 'shop', '--timeout=10s']);
    });

    it("keeps a release's status out of reach of a spec update", async () => {
      const c = started();
      await c.kubectl(['create', 'namespace', 'orders']);
      const canary = {
        apiVersion: 'sluice.dev/v1alpha1',
        kind: 'Canary',
        metadata: { name: 'api', namespace: 'orders' },
        spec: { targetRef: { name: 'api' } },
        status: { phase: 'Progressing', canaryWeight: 30 },
      };
      await c.apply(canary);
      const phase = await c.kubectl([
        'get',
        'canary',
        'api',
        '-n',
        'orders',
        '-o',
        'jsonpath={.status.phase}',
      ]);
      expect(phase).toBe('');
    });

    it('gives the controller what DESIGN.md needs and nothing beyond', async () => {
      const c = started();
      const canI = async (as: string, ...args: string[]): Promise<string> =>
        (
          await c.tryKubectl(['auth', 'can-i', `--as=system:serviceaccount:sluice-system:${as}`, ...args])
        ).stdout.trim();

      expect(await canI('sluice-controller', 'patch', 'deployments', '-n', 'shop')).toBe('yes');
      const canStatus = (verb: string): Promise<string> =>
        canI('sluice-controller', verb, 'canaries.sluice.dev', '--subresource=status', '-n', 'shop');
      expect(await canStatus('patch')).toBe('yes');
      expect(await canStatus('update')).toBe('no');
      expect(await canI('sluice-controller', 'update', 'leases', '-n', 'sluice-system')).toBe('yes');
      expect(await canI('sluice-controller', 'update', 'leases', '-n', 'shop')).toBe('no');
      expect(await canI('sluice-controller', 'create', 'pods', '-n', 'shop')).toBe('no');
      expect(await canI('sluice-controller', 'create', 'pods/exec', '-n', 'shop')).toBe('no');
      expect(await canI('sluice-controller', 'delete', 'nodes')).toBe('no');

      expect(await canI('sluice-webhook', 'get', 'secrets/sluice-webhook-certs', '-n', 'sluice-system')).toBe(
        'yes',
      );
      expect(
        await canI('sluice-webhook', 'update', 'secrets/sluice-webhook-certs', '-n', 'sluice-system'),
      ).toBe('no');
      expect(await canI('sluice-webhook', 'get', 'secrets/sluice-seal-key', '-n', 'sluice-system')).toBe(
        'no',
      );
      expect(await canI('sluice-webhook', 'get', 'secrets/other', '-n', 'sluice-system')).toBe('no');
      expect(await canI('sluice-webhook', 'get', 'secrets', '-n', 'shop')).toBe('no');
      expect(await canI('sluice-webhook', 'patch', 'mutatingwebhookconfigurations/sluice-webhook')).toBe(
        'yes',
      );
      expect(await canI('sluice-webhook', 'patch', 'mutatingwebhookconfigurations/other')).toBe('no');
      expect(await canI('sluice-webhook', 'list', 'deployments', '-n', 'shop')).toBe('no');
    });

    // The webhook as its Deployment runs it (the same args and env, under its ServiceAccount's identity and
    // RBAC), but as a local process: the API server reaches it on 127.0.0.1 once the configuration points there.
    describe('with the webhook running as its ServiceAccount', () => {
      let webhook: SluiceProcess | undefined;
      let port = 0;
      let sealKeyHex = '';
      let dir = '';

      beforeAll(async () => {
        const c = started();
        dir = await mkdtemp(join(tmpdir(), 'sluice-manifests-'));
        // The install step of README.md, "Install on a cluster"; the pod would mount this Secret at
        // /etc/sluice/seal, the local process reads the same key from a file.
        sealKeyHex = randomBytes(32).toString('hex');
        await c.kubectl([
          'create',
          'secret',
          'generic',
          'sluice-seal-key',
          '-n',
          'sluice-system',
          `--from-literal=key=${sealKeyHex}`,
        ]);
        const keyFile = join(dir, 'seal-key');
        await writeFile(keyFile, sealKeyHex, { mode: 0o600 });

        const deployment = parseYamlList(await c.kubectl(['kustomize', manifests])).find(
          (o) => o.kind === 'Deployment' && o.metadata.name === 'sluice-webhook',
        );
        const container = deployment?.spec?.template?.spec.containers[0];
        if (container === undefined) throw new Error('the base has no webhook container');
        const args = (container.args ?? []).map((a) => (a === '/etc/sluice/seal/key' ? keyFile : a));
        const env = Object.fromEntries(
          (container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])),
        );
        port = await freePort();
        webhook = runSluice([...args, '--host', '127.0.0.1', '--port', String(port)], {
          ...env,
          SLUICE_NAMESPACE: 'sluice-system',
          KUBECONFIG: await c.serviceAccountKubeconfig('sluice-system', 'sluice-webhook'),
        });
        await webhook.waitForLog('listening', 30_000);
      });

      afterAll(async () => {
        await webhook?.stop();
        if (dir !== '') await rm(dir, { recursive: true, force: true });
      });

      it('keeps its certificate in its Secret and its CA in caBundle, which a re-apply leaves alone', async () => {
        const c = started();
        const ca = await c.kubectl([
          'get',
          'secret',
          'sluice-webhook-certs',
          '-n',
          'sluice-system',
          '-o',
          'jsonpath={.data.ca\\.crt}',
        ]);
        expect(ca).not.toBe('');
        await eventually(
          'caBundle on every webhook',
          async () => (await caBundles(c)).every((b) => b === ca),
          {
            timeoutMs: 20_000,
          },
        );
        expect(await caBundles(c)).toHaveLength(2);

        await c.kubectl(['apply', '--server-side', '-k', manifests]);
        expect(await caBundles(c)).toEqual([ca, ca]);
      });

      describe('with the API server sending it reviews', () => {
        let namespace = '';

        beforeAll(async () => {
          const c = started();
          // Only the address changes: the rules, conditions, selectors and caBundle are the manifest's.
          const patch = [0, 1].flatMap((i) => [
            { op: 'remove', path: `/webhooks/${i}/clientConfig/service` },
            { op: 'add', path: `/webhooks/${i}/clientConfig/url`, value: `https://127.0.0.1:${port}/mutate` },
          ]);
          await c.kubectl([
            'patch',
            'mutatingwebhookconfiguration',
            'sluice-webhook',
            '--type=json',
            '-p',
            JSON.stringify(patch),
          ]);
          namespace = 'webhook-e2e';
          await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
          await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
          // The API server picks up a changed configuration within a moment.
          await eventually('the API server calling the webhook', () => dryRunInjects(c, namespace), {
            timeoutMs: 20_000,
          });
        });

        it.each(examples)(
          'injects the proxy into the %s example on a dry run, and only into podinfo',
          async (example) => {
            const c = started();
            const before = await admissionsByKind(port);
            const out = await c.kubectl([
              'apply',
              '--server-side',
              '--dry-run=server',
              '-k',
              exampleDir(example),
              '-o',
              'json',
            ]);
            const objects = itemsOf(JSON.parse(out) as KubeObject);
            // Init containers first: on this 1.29+ API server the webhook (--native-sidecar auto) injects the
            // proxy as a native sidecar.
            const containers = (name: string): string[] => {
              const spec = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)?.spec
                ?.template?.spec;
              return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].map((ct) => ct.name);
            };
            const podinfo = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'podinfo');
            expect(containers('podinfo')).toEqual([PROXY_CONTAINER, 'podinfo']);
            expect(podinfo?.metadata.annotations?.['sluice.dev/stable-revision']).toMatch(/^[0-9a-f]{10}$/);
            expect(containers('podinfo-load')).toEqual(['load']);
            // The load generator, the ConfigMap and the Secret were filtered out before any review was sent.
            const after = await admissionsByKind(port);
            expect(delta(before, after)).toEqual({ Deployment: 1 });
          },
        );

        it('never sees kube-system or sluice-system, nor Deployments without a sluice.dev annotation', async () => {
          const c = started();
          const before = await admissionsByKind(port);
          for (const ns of ['kube-system', 'sluice-system']) {
            await c.kubectl(['apply', '--dry-run=server', '-f', '-'], {
              stdin: JSON.stringify(deploymentManifest('annotated', ns, { 'sluice.dev/canary': 'enabled' })),
            });
          }
          await c.kubectl(['apply', '--dry-run=server', '-f', '-'], {
            stdin: JSON.stringify(deploymentManifest('plain', namespace, { team: 'shop' })),
          });
          expect(delta(before, await admissionsByKind(port))).toEqual({});
        });

        it('removes the proxy when every sluice.dev annotation goes: the old object still reaches the webhook', async () => {
          const c = started();
          await c.kubectl(['apply', '-f', '-'], {
            stdin: JSON.stringify(deploymentManifest('api', namespace, { 'sluice.dev/canary': 'enabled' })),
          });
          expect(await containerNames(c, namespace, 'api')).toEqual([PROXY_CONTAINER, 'api']);

          // The new object has no sluice.dev annotation left, but still the injected proxy in its template.
          const deployment = JSON.parse(
            await c.kubectl(['get', 'deployment', 'api', '-n', namespace, '-o', 'json']),
          ) as KubeObject;
          const removals = sluiceAnnotations(deployment).map(([key]) => `${key}-`);
          expect(removals).toContain('sluice.dev/canary-');
          await c.kubectl(['annotate', 'deployment', 'api', '-n', namespace, ...removals]);
          expect(await containerNames(c, namespace, 'api')).toEqual(['api']);
        });

        it('holds a change to a tracked ConfigMap, seals one to a tracked Secret, and lets untracked ones through', async () => {
          const c = started();
          const tracked = { 'sluice.dev/tracked': 'true' };
          await c.apply(
            configMap('settings', namespace, tracked, { colour: 'blue' }),
            configMap('untracked', namespace, {}, { colour: 'blue' }),
            secret('token', namespace, tracked, { token: 'old' }),
          );
          await c.apply(
            configMap('settings', namespace, tracked, { colour: 'green' }),
            configMap('untracked', namespace, {}, { colour: 'green' }),
            secret('token', namespace, tracked, { token: 'new' }),
          );

          const get = async (kind: string, name: string): Promise<KubeObject> =>
            JSON.parse(await c.kubectl(['get', kind, name, '-n', namespace, '-o', 'json'])) as KubeObject;
          const settings = await get('configmap', 'settings');
          expect(settings.data).toEqual({ colour: 'blue' });
          expect(settings.metadata.annotations?.['sluice.dev/candidate']).toBeDefined();
          expect((await get('configmap', 'untracked')).data).toEqual({ colour: 'green' });

          const token = await get('secret', 'token');
          const held = token.metadata.annotations?.['sluice.dev/candidate'] ?? '';
          expect(token.data).toEqual({ token: Buffer.from('old').toString('base64') });
          expect(isSealed(held)).toBe(true);
          // Sealed with the key of the Secret created at install time.
          const candidate = decodeCandidate(held, parseSealKey(Buffer.from(sealKeyHex))) as {
            data: Record<string, string>;
          };
          expect(candidate.data).toEqual({ token: Buffer.from('new').toString('base64') });
        });
      });
    });
  });
});

function parseYamlList(text: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const value = doc.toJS() as KubeObject | null;
    return value === null ? [] : [value];
  });
}

function itemsOf(output: KubeObject & { items?: KubeObject[] }): KubeObject[] {
  return output.items ?? [output];
}

const sluiceAnnotations = (o: KubeObject): [string, string][] =>
  Object.entries(o.metadata.annotations ?? {}).filter(([key]) => key.startsWith(ANNOTATION_PREFIX));

async function caBundles(c: Cluster): Promise<string[]> {
  const configuration = JSON.parse(
    await c.kubectl(['get', 'mutatingwebhookconfiguration', 'sluice-webhook', '-o', 'json']),
  ) as KubeObject;
  return (configuration.webhooks ?? []).map((w) => w.clientConfig.caBundle ?? '');
}

function deploymentManifest(name: string, namespace: string, annotations: Record<string, string>): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, annotations },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name, image: 'example/app:1', ports: [{ name: 'http', containerPort: 8080 }] }],
        },
      },
    },
  };
}

async function dryRunInjects(c: Cluster, namespace: string): Promise<boolean> {
  const result = await c.tryKubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], {
    stdin: JSON.stringify(deploymentManifest('probe', namespace, { 'sluice.dev/canary': 'enabled' })),
  });
  return result.exitCode === 0 && result.stdout.includes(PROXY_CONTAINER);
}

/** The names of the pod template's init containers, then its containers. */
async function containerNames(c: Cluster, namespace: string, name: string): Promise<string[]> {
  const out = await c.kubectl([
    'get',
    'deployment',
    name,
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.template.spec.initContainers[*].name} {.spec.template.spec.containers[*].name}',
  ]);
  return out.split(' ').filter((n) => n !== '');
}

const configMap = (name: string, namespace: string, labels: object, data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, labels },
  data,
});

const secret = (name: string, namespace: string, labels: object, stringData: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace, labels },
  type: 'Opaque',
  stringData,
});

/** The webhook's sluice_webhook_admissions_total, summed by kind. */
async function admissionsByKind(port: number): Promise<Record<string, number>> {
  const text = await new Promise<string>((resolve, reject) => {
    // Test-only: the webhook's CA is checked elsewhere; this reads its counters on loopback.
    const req = request(`https://127.0.0.1:${port}/metrics`, { rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const found = /^sluice_webhook_admissions_total\{[^}]*kind="([^"]+)"[^}]*\} (\S+)$/.exec(line);
    if (found?.[1] !== undefined) counts[found[1]] = (counts[found[1]] ?? 0) + Number(found[2]);
  }
  return counts;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([kind, n]) => [kind, n - (before[kind] ?? 0)] as const)
      .filter(([, n]) => n !== 0),
  );
}
