import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { OptionSpecs } from '../../src/command/options.js';
import { parseOptions } from '../../src/command/options.js';
import { controllerCommand } from '../../src/controller/command.js';
import { webhookCommand } from '../../webhook/command.js';
import type { Manifest } from './manifests.js';

/**
 * The Helm chart (charts/sluice) against the kustomize base (manifests/): `chartDifferences` lists every way
 * the chart's rendered objects differ from the base's, each naming the object and the field, so that a
 * change to one side that the other lacks fails the parity test with a message that says where.
 */

export const chartDir = fileURLToPath(new URL('../../charts/sluice', import.meta.url));

/** `Kind/name` of an object, as the differences name it. */
export const objectKey = (o: Pick<Manifest, 'kind' | 'metadata'>): string => `${o.kind}/${o.metadata.name}`;

export interface ParityOptions {
  /** Objects only the base has, `Kind/name` → why. */
  onlyInBase?: Record<string, string>;
  /** Objects only the chart has, `Kind/name` → why. */
  onlyInChart?: Record<string, string>;
}

const COMMANDS: Record<string, OptionSpecs> = {
  webhook: webhookCommand.options,
  controller: controllerCommand.options,
};

/**
 * The differences between the base's and the chart's objects, e.g.
 * `Deployment/sluice-webhook: spec.template.spec.containers[webhook].resources.limits.memory: base "320Mi", chart "256Mi"`.
 * Empty when they render the same. The chart may add labels and annotations to an object's metadata, but
 * must keep the base's; a container's args are compared as the options they give the command (with its
 * env), so an explicit flag equal to the default is no difference.
 */
export function chartDifferences(
  base: readonly Manifest[],
  chart: readonly Manifest[],
  options: ParityOptions = {},
): string[] {
  const differences: string[] = [];
  const byKey = (objects: readonly Manifest[]) => new Map(objects.map((o) => [objectKey(o), o]));
  const baseObjects = byKey(base);
  const chartObjects = byKey(chart);
  for (const [key, b] of baseObjects) {
    const c = chartObjects.get(key);
    if (c === undefined) {
      if (options.onlyInBase?.[key] === undefined)
        differences.push(`${key}: in the kustomize base, not in the chart`);
      continue;
    }
    differences.push(...compareObject(key, b, c));
  }
  for (const key of chartObjects.keys()) {
    if (!baseObjects.has(key) && options.onlyInChart?.[key] === undefined)
      differences.push(`${key}: in the chart, not in the kustomize base`);
  }
  for (const [key, why] of Object.entries({ ...options.onlyInBase, ...options.onlyInChart })) {
    if (baseObjects.has(key) && chartObjects.has(key))
      differences.push(`${key}: in both, though listed as in one only (${why})`);
  }
  return differences;
}

function compareObject(key: string, base: Manifest, chart: Manifest): string[] {
  const differences: string[] = [];
  for (const field of ['labels', 'annotations'] as const) {
    const want = base.metadata[field] ?? {};
    const have = chart.metadata[field] ?? {};
    for (const [name, value] of Object.entries(want)) {
      if (have[name] !== value)
        differences.push(`${key}: metadata.${field}.${name}: base ${show(value)}, chart ${show(have[name])}`);
    }
  }
  diff(normalize(base), normalize(chart), '', (path, b, c) =>
    differences.push(`${key}: ${path}: base ${show(b)}, chart ${show(c)}`),
  );
  return differences;
}

/** The fields compared as they are: all but `source`, metadata's labels and annotations, and container args. */
function normalize(o: Manifest): unknown {
  const { source: _source, metadata, ...rest } = o;
  const { labels: _labels, annotations: _annotations, ...identity } = metadata as Record<string, unknown>;
  const normalized = structuredClone({ ...rest, metadata: identity }) as Record<string, unknown>;
  const pod = (normalized['spec'] as { template?: { spec?: { containers?: Container[] } } } | undefined)
    ?.template?.spec;
  for (const container of pod?.containers ?? []) {
    if (container.args !== undefined) container.args = effectiveArgs(container, o.metadata.namespace);
  }
  return normalized;
}

interface Container {
  args?: unknown;
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
}

/** A sluice container's args as the options its command runs with; other args as they are. */
function effectiveArgs(container: Container, namespace: string | undefined): unknown {
  const args = container.args as string[];
  const [command, ...flags] = args;
  const specs = command === undefined ? undefined : COMMANDS[command];
  if (specs === undefined) return args;
  const fieldValues: Record<string, string | undefined> = {
    'metadata.namespace': namespace,
    'metadata.name': '(the pod name)',
  };
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const value = e.value ?? fieldValues[e.valueFrom?.fieldRef?.fieldPath ?? ''];
    if (value !== undefined) env[e.name] = value;
  }
  try {
    return { command, options: { ...parseOptions(specs, flags, env) } };
  } catch (err) {
    return { command, unparsable: (err as Error).message };
  }
}

/** Calls `report` for each leaf where the two differ. Arrays of named items are matched by name. */
function diff(
  base: unknown,
  chart: unknown,
  path: string,
  report: (path: string, base: unknown, chart: unknown) => void,
): void {
  if (isDeepStrictEqual(base, chart)) return;
  if (Array.isArray(base) && Array.isArray(chart)) {
    const names = (list: unknown[]) =>
      list.every((item) => typeof (item as { name?: unknown } | null)?.name === 'string')
        ? list.map((item) => (item as { name: string }).name)
        : undefined;
    const baseNames = names(base);
    const chartNames = names(chart);
    if (baseNames !== undefined && chartNames !== undefined && new Set(baseNames).size === baseNames.length) {
      if (!isDeepStrictEqual(baseNames, chartNames))
        report(`${path} (names, in order)`, baseNames, chartNames);
      for (const [i, name] of baseNames.entries()) {
        const j = chartNames.indexOf(name);
        if (j !== -1) diff(base[i], chart[j], `${path}[${name}]`, report);
      }
      return;
    }
    for (let i = 0; i < Math.max(base.length, chart.length); i++)
      diff(base[i], chart[i], `${path}[${i}]`, report);
    return;
  }
  if (isPlainObject(base) && isPlainObject(chart)) {
    for (const field of new Set([...Object.keys(base), ...Object.keys(chart)])) {
      diff(base[field], chart[field], path === '' ? field : `${path}.${field}`, report);
    }
    return;
  }
  report(path, base, chart);
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const show = (value: unknown): string => (value === undefined ? '(none)' : JSON.stringify(value));
