import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCluster } from '../support/kube.js';

const manifests = fileURLToPath(new URL('../../manifests', import.meta.url));

describe('the kustomize base', () => {
  const started = useCluster();

  it('passes a server-side dry run of kubectl apply', async () => {
    const c = started();
    // A dry run creates nothing, so the objects inside sluice-system need the namespace to exist already.
    await c.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sluice-system' } });
    const out = await c.kubectl(['apply', '--server-side', '--dry-run=server', '-k', manifests]);
    expect(out).toContain(
      'customresourcedefinition.apiextensions.k8s.io/canaries.sluice.dev serverside-applied',
    );
  });

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
      expect(
        await canI(
          'sluice-controller',
          'update',
          'canaries.sluice.dev',
          '--subresource=status',
          '-n',
          'shop',
        ),
      ).toBe('yes');
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
  });
});
