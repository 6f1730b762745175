import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANNOTATION_PREFIX, parseCanaryAnnotations, type CanaryConfig } from '../../src/annotations.js';
import {
  exampleDirs,
  manifestsDir,
  readYaml,
  renderKustomization,
  yamlFilesUnder,
  type Manifest,
} from '../support/manifests.js';

const examplesDir = join(manifestsDir, 'examples');

const sluiceAnnotations = (o: Manifest): Record<string, string> =>
  Object.fromEntries(
    Object.entries(o.metadata.annotations ?? {}).filter(([key]) => key.startsWith(ANNOTATION_PREFIX)),
  );

function configOf(example: string): CanaryConfig {
  const { objects } = renderKustomization(join(examplesDir, example));
  const podinfo = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'podinfo');
  if (podinfo === undefined) throw new Error(`${example} has no Deployment podinfo`);
  const result = parseCanaryAnnotations(sluiceAnnotations(podinfo));
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.config;
}

const objectiveNames = (config: CanaryConfig): string[] =>
  config.objectives.map((o) => `${o.name}${o.op}${o.threshold}`);

interface PodTemplate {
  spec: { template: { spec: { containers: { name: string; ports?: { name?: string }[] }[] } } };
}
interface ServiceSpec {
  spec: { selector: Record<string, string>; ports: { targetPort?: number | string }[] };
}

describe('the examples', () => {
  it('has the sample app and one overlay per scenario', () => {
    expect(exampleDirs()).toEqual([
      'config-release',
      'latency-objectives',
      'podinfo',
      'segment',
      'small-steps',
      'test-header',
    ]);
  });

  it.each(exampleDirs())(
    '%s: every Deployment with sluice.dev annotations passes their schema',
    (example) => {
      const deployments = renderKustomization(join(examplesDir, example)).objects.filter(
        (o) => o.kind === 'Deployment' && Object.keys(sluiceAnnotations(o)).length > 0,
      );
      expect(deployments.map((d) => d.metadata.name)).toEqual(['podinfo']);
      for (const deployment of deployments) {
        const result = parseCanaryAnnotations(sluiceAnnotations(deployment));
        expect(result.ok ? [] : result.errors.map((e) => e.message)).toEqual([]);
        expect(result.ok && result.config.enabled).toBe(true);
      }
    },
  );

  it('leaves no Deployment in a file that no example renders', () => {
    const rendered = new Set(exampleDirs().flatMap((e) => renderKustomization(join(examplesDir, e)).files));
    const withDeployments = yamlFilesUnder(examplesDir).filter((file) =>
      readYaml(join(manifestsDir, file)).some((o) => o.kind === 'Deployment'),
    );
    expect(withDeployments.filter((file) => !rendered.has(file))).toEqual([]);
  });

  it('opts the sample app in with the defaults', () => {
    const config = configOf('podinfo');
    expect(config).toMatchObject({ weights: [10, 20, 30, 40, 50], threshold: 5, intervalMs: 60_000 });
    expect(objectiveNames(config)).toEqual(['success-rate>=99', 'p99-latency<=500']);
  });

  it('steps by 5% to 50% and rolls back after 5 failed checks in small-steps', () => {
    const config = configOf('small-steps');
    expect(config.weights).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    expect(config.threshold).toBe(5);
    expect(objectiveNames(config)).toEqual(['success-rate>=99', 'p99-latency<=500']);
  });

  it('steps by 20% to 75% against latency and error objectives in latency-objectives', () => {
    const config = configOf('latency-objectives');
    expect(config.weights).toEqual([20, 40, 60, 75]);
    expect(objectiveNames(config)).toEqual(['mean-latency<50', 'p95-latency<100', 'error-rate<1']);
  });

  it('sends only traffic: test requests to the new version in test-header', () => {
    const config = configOf('test-header');
    expect(config.match).toEqual([{ header: 'traffic', exact: 'test' }]);
    expect(config.iterations).toBe(10);
    expect(config.segment).toEqual([]);
  });

  it('lets only country: wakanda requests take part in segment', () => {
    const config = configOf('segment');
    expect(config.segment).toEqual([{ header: 'country', exact: 'wakanda' }]);
    expect(config.match).toEqual([]);
    expect(config.weights).toEqual([25, 50, 75, 100]);
  });

  it('checks every 90 s, steps by 10% to 50% and rolls back after 2 failed checks in config-release', () => {
    const config = configOf('config-release');
    expect(config).toMatchObject({ intervalMs: 90_000, weights: [10, 20, 30, 40, 50], threshold: 2 });
  });

  it('reaches the app through a Service that targets its port by name, so the proxy can take it over', () => {
    const { objects } = renderKustomization(join(examplesDir, 'podinfo'));
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'podinfo') as
      (Manifest & ServiceSpec) | undefined;
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'podinfo') as
      (Manifest & PodTemplate) | undefined;
    const portNames = deployment?.spec.template.spec.containers
      .flatMap((c) => c.ports ?? [])
      .map((p) => p.name);
    expect(service?.spec.ports.map((p) => p.targetPort)).toEqual(['http']);
    expect(portNames).toContain('http');
  });

  it('keeps the load generator out of the webhook: it carries no sluice.dev annotation', () => {
    const { objects } = renderKustomization(join(examplesDir, 'podinfo'));
    const load = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'podinfo-load');
    expect(load).toBeDefined();
    expect(load && sluiceAnnotations(load)).toEqual({});
  });
});
