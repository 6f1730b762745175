import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chartDifferences, chartDir } from '../support/chart.js';
import { manifestsDir, readYaml, type Manifest } from '../support/manifests.js';

// What needs no helm: the chart's files against the base's and the package's, and the parity check itself.
// test/charts/chart.e2e.test.ts renders the chart with helm and compares it with `kubectl kustomize`.

describe('the chart', () => {
  it("ships the base's CRD unchanged, with the base's label", () => {
    const [chart] = readYaml(join(chartDir, 'crds/canaries.sluice.dev.yaml'));
    const [base] = readYaml(join(manifestsDir, 'crd.yaml'));
    const { source: _chartSource, metadata: chartMetadata, ...chartFields } = chart as Manifest;
    const { source: _baseSource, metadata: baseMetadata, ...baseFields } = base as Manifest;
    expect(chartFields).toEqual(baseFields);
    // kustomization.yaml's `labels`, which a file in crds/ cannot get from the chart's templates.
    expect(chartMetadata).toEqual({ ...baseMetadata, labels: { 'app.kubernetes.io/part-of': 'sluice' } });
  });

  it("runs this package's version by default", () => {
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(join(manifestsDir, '../package.json'), 'utf8')) as {
      version: string;
    };
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as { image: { tag: string } };
    expect(chart.appVersion).toBe(pkg.version);
    expect(values.image.tag).toBe('');
  });
});

const deployment = (args: string[], memory = '320Mi'): Manifest => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'sluice-webhook',
    namespace: 'sluice-system',
    labels: { 'app.kubernetes.io/part-of': 'sluice' },
  },
  spec: {
    template: {
      spec: {
        containers: [
          {
            name: 'webhook',
            args,
            env: [{ name: 'SLUICE_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
            resources: { limits: { memory } },
          },
        ],
      },
    },
  },
  source: 'test',
});

const role = (verbs: string[]): Manifest => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'sluice-controller' },
  rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs }],
  source: 'test',
});

describe('chartDifferences', () => {
  const webhook = deployment(['webhook', '--seal-key-file', '/k']);
  const controllerRole = role(['get', 'list', 'delete']);
  const base = [webhook, controllerRole];
  const withMetadata = (o: Manifest, metadata: Partial<Manifest['metadata']>): Manifest => ({
    ...o,
    metadata: { ...o.metadata, ...metadata },
  });

  it('finds none between the same objects, whatever labels and annotations the chart adds', () => {
    const chart = [
      withMetadata(webhook, { labels: { 'app.kubernetes.io/part-of': 'sluice', extra: 'x' } }),
      withMetadata(controllerRole, { annotations: { note: 'x' } }),
    ];
    expect(chartDifferences(base, chart)).toEqual([]);
  });

  it('compares args as the options they give: a flag set to its default is no difference', () => {
    const explicit = deployment([
      'webhook',
      '--seal-key-file',
      '/k',
      '--control-url',
      'http://sluice-controller.sluice-system:8080',
    ]);
    expect(chartDifferences(base, [explicit, controllerRole])).toEqual([]);

    const moved = deployment(['webhook', '--seal-key-file', '/k', '--control-url', 'http://elsewhere:8080']);
    expect(chartDifferences(base, [moved, controllerRole])).toEqual([
      'Deployment/sluice-webhook: spec.template.spec.containers[webhook].args.options.controlUrl: ' +
        'base "http://sluice-controller.sluice-system:8080", chart "http://elsewhere:8080"',
    ]);
  });

  it('names the object and field of every difference', () => {
    const chart = [
      withMetadata(deployment(['webhook', '--seal-key-file', '/k'], '256Mi'), { labels: {} }),
      role(['get', 'list']),
    ];
    expect(chartDifferences(base, chart)).toEqual([
      'Deployment/sluice-webhook: metadata.labels.app.kubernetes.io/part-of: base "sluice", chart (none)',
      'Deployment/sluice-webhook: spec.template.spec.containers[webhook].resources.limits.memory: ' +
        'base "320Mi", chart "256Mi"',
      'ClusterRole/sluice-controller: rules[0].verbs[2]: base "delete", chart (none)',
    ]);
  });

  it('reports an object on one side only, unless it is listed with its reason', () => {
    const namespace: Manifest = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 's' }, source: 't' };
    const secret: Manifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'k' }, source: 't' };
    expect(chartDifferences([...base, namespace], [...base, secret])).toEqual([
      'Namespace/s: in the kustomize base, not in the chart',
      'Secret/k: in the chart, not in the kustomize base',
    ]);
    const listed = { onlyInBase: { 'Namespace/s': 'why' }, onlyInChart: { 'Secret/k': 'why' } };
    expect(chartDifferences([...base, namespace], [...base, secret], listed)).toEqual([]);
    expect(chartDifferences([...base, namespace], [...base, namespace], listed)).toEqual([
      'Namespace/s: in both, though listed as in one only (why)',
    ]);
  });

  it('says when args do not parse', () => {
    const chart = [deployment(['webhook', '--no-such-flag']), controllerRole];
    expect(chartDifferences(base, chart)).toEqual([
      expect.stringMatching(
        /^Deployment\/sluice-webhook: spec\.template\.spec\.containers\[webhook\]\.args\./,
      ),
      expect.stringContaining('unknown option --no-such-flag'),
    ]);
  });
});
