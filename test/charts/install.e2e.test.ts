import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSealKey } from '../../src/candidate.js';
import { chartDir } from '../support/chart.js';
import { helm } from '../support/gitops.js';
import { useCluster, type Cluster } from '../support/kube.js';
import { parseManifests } from '../support/manifests.js';
import { waitFor } from '../support/processes.js';

// The chart installed with helm (v4, hack/gitops/build.sh) on the test control plane, as README.md's "Install
// with Helm" says. kwok runs no containers: these tests look at the objects, not at running pods.

const namespace = 'sluice-system';
const release = 'sluice';

describe('helm install of the chart', () => {
  const started = useCluster();
  let manifest = '';

  beforeAll(async () => {
    await helm(started(), ['install', release, chartDir, '--namespace', namespace, '--create-namespace']);
    manifest = await helm(started(), ['get', 'manifest', release, '--namespace', namespace]);
  });

  /** `kind/name` of those of the release's objects that exist. */
  const existing = async (c: Cluster): Promise<string[]> =>
    (await c.kubectl(['get', '-f', '-', '--ignore-not-found', '-o', 'name'], { stdin: manifest }))
      .split('\n')
      .filter((line) => line !== '')
      .sort();

  const sealKey = (c: Cluster): Promise<string> =>
    c.kubectl(['get', 'secret', 'sluice-seal-key', '-n', namespace, '-o', 'jsonpath={.data.key}']);

  it('creates every object of the release, and the CRD, which becomes established', async () => {
    const c = started();
    const objects = parseManifests(manifest, 'helm get manifest');
    expect(objects.length).toBeGreaterThan(15);
    expect(await existing(c)).toHaveLength(objects.length);
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

  it('generates a seal key once, and keeps it on upgrade', async () => {
    const c = started();
    const key = await sealKey(c);
    expect(() => parseSealKey(Buffer.from(Buffer.from(key, 'base64').toString('utf8')))).not.toThrow();

    await helm(c, ['upgrade', release, chartDir, '-n', namespace, '--set', 'webhook.replicas=3']);
    expect(await sealKey(c)).toBe(key);
    expect(
      await c.kubectl([
        'get',
        'deployment',
        'sluice-webhook',
        '-n',
        namespace,
        '-o',
        'jsonpath={.spec.replicas}',
      ]),
    ).toBe('3');
  });

  describe('uninstalled', () => {
    let key = '';

    beforeAll(async () => {
      const c = started();
      key = await sealKey(c);
      await c.kubectl(['create', 'namespace', 'shop']);
      await c.apply({
        apiVersion: 'sluice.dev/v1alpha1',
        kind: 'Canary',
        metadata: { name: 'podinfo', namespace: 'shop' },
        spec: { targetRef: { name: 'podinfo' } },
      });
      await helm(c, ['uninstall', release, '-n', namespace]);
    });

    afterAll(async () => {
      await started().kubectl(['delete', 'namespace', 'shop', '--wait=false']);
    });

    it('removes its objects but the seal key, and leaves the CRD and the Canaries alone', async () => {
      const c = started();
      await waitFor(
        "the release's objects gone",
        async () => (await existing(c)).join() === 'secret/sluice-seal-key',
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
      expect(await existing(c)).toHaveLength(parseManifests(manifest, 'helm get manifest').length);
    });
  });
});
