import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSealKey } from '../../src/candidate.js';
import { CANARY_API_VERSION } from '../../src/kube/canary-object.js';
import { chartDir } from '../support/chart.js';
import { helm } from '../support/gitops.js';
import { useCluster, type Cluster } from '../support/kube.js';
import { manifestsDir, parseManifests } from '../support/manifests.js';
import { eventually } from '../support/eventually.js';

// The chart installed with helm (v4, hack/gitops/build.sh) on the test control plane, as README.md's "Install
// with Helm" says. kwok runs no containers: these tests look at the objects, not at running pods.

const namespace = 'sluice-system';
const release = 'sluice';

/** `kind/name` of those of a release's objects (`helm get manifest`) that exist. */
const existing = async (c: Cluster, manifest: string): Promise<string[]> =>
  (await c.kubectl(['get', '-f', '-', '--ignore-not-found', '-o', 'name'], { stdin: manifest }))
    .split('\n')
    .filter((line) => line !== '')
    .sort();

/** A field of an object, e.g. `get(c, 'secret/sluice-seal-key', '.data.key')`; in the release's namespace. */
const get = (c: Cluster, object: string, path: string): Promise<string> =>
  c.kubectl(['get', object, '-n', namespace, '-o', `jsonpath={${path}}`]);

const sealKey = (c: Cluster): Promise<string> => get(c, 'secret/sluice-seal-key', '.data.key');

const canary = {
  apiVersion: CANARY_API_VERSION,
  kind: 'Canary',
  metadata: { name: 'podinfo', namespace: 'shop' },
  spec: { targetRef: { name: 'podinfo' } },
};

describe('helm install of the chart', () => {
  const started = useCluster();
  let manifest = '';

  beforeAll(async () => {
    await helm(started(), ['install', release, chartDir, '--namespace', namespace, '--create-namespace']);
    manifest = await helm(started(), ['get', 'manifest', release, '--namespace', namespace]);
  });

  it('creates every object of the release, and the CRD, which becomes established', async () => {
    const c = started();
    const objects = parseManifests(manifest, 'helm get manifest');
    expect(objects.length).toBeGreaterThan(15);
    expect(await existing(c, manifest)).toHaveLength(objects.length);
    await c.kubectl(['wait', '--for=condition=Established', 'crd/canaries.sluice.dev', '--timeout=60s']);
    const status = JSON.parse(await helm(c, ['status', release, '-n', namespace, '-o', 'json'])) as {
      info: { status: string };
    };
    expect(status.info.status).toBe('deployed');
  });

  it('gives the controller and the webhook the access they need in the release, and no more', async () => {
    const c = started();
    const canI = async (as: string, ...args: string[]): Promise<string> =>
      (
        await c.tryKubectl(['auth', 'can-i', `--as=system:serviceaccount:${namespace}:${as}`, ...args])
      ).stdout.trim();
    expect(await canI('sluice-controller', 'patch', 'deployments', '-n', 'shop')).toBe('yes');
    expect(await canI('sluice-controller', 'update', 'leases', '-n', namespace)).toBe('yes');
    expect(await canI('sluice-controller', 'update', 'leases', '-n', 'shop')).toBe('no');
    expect(await canI('sluice-webhook', 'get', 'secrets/sluice-webhook-certs', '-n', namespace)).toBe('yes');
    expect(await canI('sluice-webhook', 'get', 'secrets/sluice-seal-key', '-n', namespace)).toBe('no');
    expect(await canI('sluice-webhook', 'patch', 'mutatingwebhookconfigurations/sluice-webhook')).toBe('yes');
  });

  it("generates a seal key once, and keeps it, and the webhook's caBundle, on upgrade", async () => {
    const c = started();
    const key = await sealKey(c);
    expect(() => parseSealKey(Buffer.from(Buffer.from(key, 'base64').toString('utf8')))).not.toThrow();
    // As the webhook patches its CA in (webhook/cluster.ts): a JSON patch of each webhook's caBundle.
    const ca = Buffer.from('a CA, as the webhook would set it').toString('base64');
    const patch = [0, 1].map((i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: ca }));
    await c.kubectl([
      'patch',
      'mutatingwebhookconfiguration/sluice-webhook',
      '--type=json',
      '-p',
      JSON.stringify(patch),
    ]);

    await helm(c, ['upgrade', release, chartDir, '-n', namespace, '--set', 'webhook.replicas=3']);
    expect(await sealKey(c)).toBe(key);
    const caBundles = await get(
      c,
      'mutatingwebhookconfiguration/sluice-webhook',
      '.webhooks[*].clientConfig.caBundle',
    );
    expect(caBundles).toBe(`${ca} ${ca}`);
    expect(await get(c, 'deployment/sluice-webhook', '.spec.replicas')).toBe('3');
  });

  describe('uninstalled', () => {
    let key = '';

    beforeAll(async () => {
      const c = started();
      key = await sealKey(c);
      await c.kubectl(['create', 'namespace', 'shop']);
      await c.apply(canary);
      await helm(c, ['uninstall', release, '-n', namespace]);
    });

    afterAll(async () => {
      await started().kubectl(['delete', 'namespace', 'shop', '--wait=false']);
    });

    it('removes its objects but the seal key, and leaves the CRD and the Canaries alone', async () => {
      const c = started();
      await eventually(
        "the release's objects gone",
        async () => (await existing(c, manifest)).join() === 'secret/sluice-seal-key',
        { timeoutMs: 60_000 },
      );
      expect(await sealKey(c)).toBe(key);
      expect(await c.kubectl(['get', 'crd', 'canaries.sluice.dev', '-o', 'name'])).toContain(
        'canaries.sluice.dev',
      );
      expect(await c.kubectl(['get', 'canary', 'podinfo', '-n', 'shop', '-o', 'name'])).toContain('podinfo');
      // The namespace, made by --create-namespace, is not helm's to delete.
      expect((await c.kubectl(['get', 'namespace', namespace, '-o', 'name'])).trim()).toBe(
        `namespace/${namespace}`,
      );
    });

    it('installs again over what it kept, with the same seal key', async () => {
      const c = started();
      await helm(c, ['install', release, chartDir, '--namespace', namespace]);
      expect(await sealKey(c)).toBe(key);
      expect(await existing(c, manifest)).toHaveLength(parseManifests(manifest, 'helm get manifest').length);
    });
  });
});

// docs/helm.md, "From a kustomize install": helm install takes the base's objects over (they were applied
// server-side by kubectl, whose fields it overrides), with the seal key created for the base, while a Canary
// lives on.
describe('helm install over the kustomize base', () => {
  const started = useCluster();

  it("takes the base's objects over, keeping the seal key, the CRD and the Canaries", async () => {
    const c = started();
    await c.kubectl(['apply', '--server-side', '-k', manifestsDir]);
    await c.kubectl(['wait', '--for=condition=Established', 'crd/canaries.sluice.dev', '--timeout=60s']);
    await c.kubectl([
      'create',
      'secret',
      'generic',
      'sluice-seal-key',
      '-n',
      namespace,
      `--from-literal=key=${randomBytes(32).toString('hex')}`,
    ]);
    const key = await sealKey(c);
    await c.kubectl(['create', 'namespace', 'shop']);
    await c.apply(canary);

    await helm(c, [
      'install',
      release,
      chartDir,
      '-n',
      namespace,
      '--take-ownership',
      '--force-conflicts',
      '--set',
      'sealKey.existingSecret=sluice-seal-key',
    ]);

    const manifest = await helm(c, ['get', 'manifest', release, '--namespace', namespace]);
    expect(await existing(c, manifest)).toHaveLength(parseManifests(manifest, 'helm get manifest').length);
    expect(await sealKey(c)).toBe(key);
    expect(await c.kubectl(['get', 'canary', 'podinfo', '-n', 'shop', '-o', 'name'])).toContain('podinfo');
    // The chart's args, over those kubectl applied.
    const args = await get(c, 'deployment/sluice-webhook', '.spec.template.spec.containers[0].args');
    expect(JSON.parse(args)).toContain('--controller-identity');
  });
});
