import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configObjectSchema, deploymentSchema, deploymentShape } from '../src/pod-template.js';
import { explain } from '../src/shape.js';
import { jsonFuzzer } from './support/json-fuzz.js';
import { seededRandom } from './support/random.js';

/** Every object in the webhook's golden fixtures: opted in or not, injected or not, with probes, ports, data. */
function fixtureObjects(kind: 'Deployment' | 'config'): unknown[] {
  const dir = new URL('fixtures/webhook/', import.meta.url);
  const objects: unknown[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const fixture = parseYaml(readFileSync(new URL(file, dir), 'utf8')) as Record<string, unknown>;
    const isConfig = fixture['kind'] === 'ConfigMap' || fixture['kind'] === 'Secret';
    if (isConfig !== (kind === 'config')) continue;
    for (const key of ['object', 'oldObject', 'stored'])
      if (fixture[key] !== undefined) objects.push(fixture[key]);
  }
  return objects;
}

describe.each([
  ['Deployment', deploymentSchema, fixtureObjects('Deployment')],
  ['ConfigMap or Secret', configObjectSchema, fixtureObjects('config')],
] as const)('the %s schema', (_name, schema, seeds) => {
  it('accepts the objects of the golden fixtures, and keeps the fields it does not name', () => {
    let accepted = 0;
    for (const seed of seeds) {
      const result = schema.safeParse(seed);
      if (!result.success) continue;
      expect(result.data).toEqual(seed);
      accepted++;
    }
    expect(accepted).toBeGreaterThan(2);
  });
});

describe('a Deployment that is not one', () => {
  it('is explained by the field that is wrong and what it should be', () => {
    const bad = {
      metadata: { name: 'web', labels: { app: 7 } },
      spec: { template: { spec: { containers: [{ name: 'web', ports: [{ containerPort: '80' }] }] } } },
    };
    expect(explain(deploymentShape, bad)).toEqual([
      { path: ['metadata', 'labels', 'app'], message: expect.stringContaining('expected string') as unknown },
      {
        path: ['spec', 'template', 'spec', 'containers', 0, 'ports', 0, 'containerPort'],
        message: expect.stringContaining('expected number') as unknown,
      },
    ]);
  });

  it('is told apart by the deprecated shape exactly as by the schema, on mutated fixtures', () => {
    const random = seededRandom(20261203);
    const { pick, mutate } = jsonFuzzer(random);
    const seeds = fixtureObjects('Deployment');
    for (let i = 0; i < 2_000; i++) {
      const value = mutate(pick(seeds));
      expect(deploymentShape(value)).toBe(deploymentSchema.safeParse(value).success);
    }
  });
});
