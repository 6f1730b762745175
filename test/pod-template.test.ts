import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configObjectSchema, deploymentSchema } from '../src/pod-template.js';

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
    const result = deploymentSchema.safeParse(bad);
    expect(result.success).toBe(false);
    const issues = result.error?.issues.map((i) => ({ path: i.path, message: i.message }));
    expect(issues).toEqual([
      { path: ['metadata', 'labels', 'app'], message: expect.stringContaining('expected string') as unknown },
      {
        path: ['spec', 'template', 'spec', 'containers', 0, 'ports', 0, 'containerPort'],
        message: expect.stringContaining('expected number') as unknown,
      },
    ]);
  });
});
