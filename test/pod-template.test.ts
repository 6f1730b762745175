import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configObjectShape, deploymentShape } from '../src/pod-template.js';
import { jsonFuzzer } from './support/json-fuzz.js';
import { seededRandom } from './support/random.js';

/**
 * The shapes replaced zod schemas that copied every object they checked (README, "Benchmarks"). Those
 * schemas, as they were, are the reference here: on realistic objects and on random mutations of them, a
 * shape must accept exactly what its schema accepted, so that no review that was answered 400 is now
 * admitted, or the other way round.
 */

const stringMap = z.record(z.string(), z.string());
const objectMetaSchema = z.looseObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
});
const intOrString = z.union([z.number().int(), z.string()]);
const probeSchema = z.looseObject({
  httpGet: z.looseObject({ port: intOrString }).optional(),
  tcpSocket: z.looseObject({ port: intOrString }).optional(),
});
const containerSchema = z.looseObject({
  name: z.string(),
  image: z.string().optional(),
  ports: z.array(z.looseObject({ name: z.string().optional(), containerPort: z.number().int() })).optional(),
  env: z.array(z.looseObject({ name: z.string() })).optional(),
  livenessProbe: probeSchema.optional(),
  readinessProbe: probeSchema.optional(),
  startupProbe: probeSchema.optional(),
});
const deploymentSchema = z.looseObject({
  metadata: objectMetaSchema,
  spec: z.looseObject({
    template: z.looseObject({
      metadata: objectMetaSchema.optional(),
      spec: z.looseObject({
        containers: z.array(containerSchema),
        volumes: z.array(z.looseObject({ name: z.string() })).optional(),
      }),
    }),
  }),
});
const configObjectSchema = z.looseObject({
  metadata: objectMetaSchema,
  data: stringMap.optional(),
  binaryData: stringMap.optional(),
});

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

const CASES = 20_000;

describe.each([
  ['Deployment', deploymentShape, deploymentSchema, fixtureObjects('Deployment')],
  ['ConfigMap or Secret', configObjectShape, configObjectSchema, fixtureObjects('config')],
] as const)('the %s shape', (_name, shape, schema, seeds) => {
  it('agrees with the zod schema on every fixture', () => {
    expect(seeds.filter((seed) => shape(seed)).length).toBeGreaterThan(2);
    for (const seed of seeds) expect(shape(seed)).toBe(schema.safeParse(seed).success);
  });

  it(`accepts exactly what the zod schema it replaced accepted, on ${CASES} mutated objects`, () => {
    const random = seededRandom(20261203);
    const { pick, mutate } = jsonFuzzer(random);
    const outcomes = { accepted: 0, refused: 0 };
    for (let i = 0; i < CASES; i++) {
      const value = mutate(pick(seeds));
      const expected = schema.safeParse(value).success;
      if (shape(value) !== expected) expect.fail(`case ${i}: ${JSON.stringify(value)}`);
      outcomes[expected ? 'accepted' : 'refused']++;
    }
    expect(outcomes.accepted).toBeGreaterThan(CASES / 10);
    expect(outcomes.refused).toBeGreaterThan(CASES / 10);
  });
});
