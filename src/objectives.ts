import { parseDuration } from './duration.js';

/**
 * The grammar of `sluice.dev/objectives`: `metric op value`, where the metric is built in (rates and
 * latencies the proxies measure) or a metric template's name, and the value is a fixed bound or one
 * relative to the primary measured in the same window (`primary*1.2`, `primary+0.5%`).
 */

export const COMPARISON_OPS = ['<=', '>=', '<', '>'] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

/**
 * What a check requires of the canary. Rates are in percent (0 to 100), latencies in milliseconds, a
 * template's metric in whatever its query returns; `quantile` is set for `pNN-latency` only (0.95 for
 * p95). With `relative`, the bound is the primary's value × `relative.factor` + `threshold`.
 */
export interface Objective {
  /** The metric as written: `p95-latency`, or the template's name for `custom`. */
  readonly name: string;
  readonly metric: 'success-rate' | 'error-rate' | 'mean-latency' | 'quantile-latency' | 'custom';
  readonly quantile: number | null;
  readonly op: ComparisonOp;
  /** The bound; with `relative`, what is added to the primary's value times the factor. */
  readonly threshold: number;
  /** Set when the bound follows the primary: `primary*1.2` is factor 1.2, threshold 0. */
  readonly relative?: { readonly factor: number };
}

export const OBJECTIVE_FORMAT =
  'write metric op value, comma-separated, e.g. success-rate>=99%,p95-latency<100ms,error-rate<=primary+0.5%; ' +
  'metrics success-rate, error-rate (%), mean-latency, p50-latency … p99.9-latency (durations), or a ' +
  'template named in the ConfigMap of sluice.dev/metric-templates; ops <, <=, >, >=; a value is a bound ' +
  'or primary*FACTOR, primary+VALUE, primary*FACTOR+VALUE';

export class InvalidObjectiveError extends Error {
  readonly code = 'InvalidObjective';
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`"${input}": ${reason}`);
    this.name = 'InvalidObjectiveError';
  }
}

export interface ObjectiveOptions {
  /**
   * Whether a name that is not built in is taken as a metric template's (set when the Deployment names a
   * template ConfigMap); otherwise it is an unknown metric.
   */
  readonly templates?: boolean;
}

/** A template name: a ConfigMap key in lower case that reads as a metric, e.g. `queue-depth`, `db_errors`. */
export const TEMPLATE_NAME = /^[a-z][a-z0-9_.-]{0,62}$/;

const BUILT_IN_NAMES = [
  'success-rate',
  'error-rate',
  'mean-latency',
  'p50-latency',
  'p95-latency',
  'p99-latency',
];

type Unit = 'percent' | 'duration' | 'number';

/** Parses one objective such as `p95-latency<100ms` or `p99-latency<=primary*1.2`; throws InvalidObjectiveError. */
export function parseObjective(input: string, options: ObjectiveOptions = {}): Objective {
  const text = input.trim();
  const found = /(<=|>=|<|>)/.exec(text);
  if (found === null) throw new InvalidObjectiveError(input, 'no comparison (<, <=, >, >=)');
  const written = text.slice(0, found.index).trim();
  const name = written.toLowerCase();
  const op = found[1] as ComparisonOp;
  const valueText = text.slice(found.index + op.length).trim();
  const metric = metricOf(input, name, written, options);
  const unit: Unit =
    metric.metric === 'custom' ? 'number' : metric.metric.endsWith('rate') ? 'percent' : 'duration';
  return { ...metric, op, ...bound(input, metric.name, unit, valueText) };
}

function metricOf(
  input: string,
  name: string,
  written: string,
  options: ObjectiveOptions,
): Pick<Objective, 'name' | 'metric' | 'quantile'> {
  if (name === 'success-rate' || name === 'error-rate' || name === 'mean-latency') {
    return { name, metric: name, quantile: null };
  }
  const quantile = /^p(\d{2}(?:\.\d+)?)-latency$/.exec(name);
  if (quantile !== null) {
    const percentile = Number(quantile[1]);
    if (!(percentile >= 50 && percentile <= 99.9)) {
      throw new InvalidObjectiveError(input, 'latency percentiles go from p50 to p99.9');
    }
    return { name, metric: 'quantile-latency', quantile: Math.round(percentile * 1000) / 100_000 };
  }
  const builtIns = 'use success-rate, error-rate, mean-latency or p50-latency … p99.9-latency';
  const near = BUILT_IN_NAMES.map((known) => ({ known, distance: editDistance(name, known) }))
    .filter((c) => c.distance <= 2)
    .sort((a, b) => a.distance - b.distance)[0]?.known;
  if (near !== undefined) {
    // Too close to a built-in name to be meant as a template's: most likely a typo.
    throw new InvalidObjectiveError(input, `unknown metric "${name}"; did you mean ${near}? ${builtIns}`);
  }
  if (options.templates !== true) {
    throw new InvalidObjectiveError(
      input,
      `unknown metric "${name}"; ${builtIns}, or set sluice.dev/metric-templates to a ConfigMap with a template named ${name}`,
    );
  }
  if (!TEMPLATE_NAME.test(written)) {
    throw new InvalidObjectiveError(
      input,
      `"${written}" is not a metric template name: lower-case letters, digits, '-', '_' and '.', starting with a letter`,
    );
  }
  return { name: written, metric: 'custom', quantile: null };
}

/**
 * Why objectives that name templates cannot stand as written: they need a template ConfigMap. Null when
 * they can, or when they do not parse (which the schema reports). Whether the ConfigMap has the templates
 * is checked when a release reads it: the webhook makes no API calls.
 */
export function metricTemplatesIssue(
  objectives: string | undefined,
  configMap: string | undefined,
): string | null {
  if (objectives === undefined || configMap !== undefined) return null;
  const custom: string[] = [];
  for (const part of objectives.split(',').filter((p) => p.trim() !== '')) {
    try {
      const objective = parseObjective(part, { templates: true });
      if (objective.metric === 'custom') custom.push(objective.name);
    } catch {
      // Reported by the schema, with the reason.
    }
  }
  if (custom.length === 0) return null;
  return (
    `unknown metric ${custom.map((name) => `"${name}"`).join(', ')}; use success-rate, error-rate, ` +
    `mean-latency or p50-latency … p99.9-latency, or set sluice.dev/metric-templates to a ConfigMap with ` +
    `a template named ${custom[0] ?? ''}`
  );
}

const NUMBER = String.raw`\d+(?:\.\d+)?`;
const RELATIVE = new RegExp(String.raw`^primary(?:\s*\*\s*(${NUMBER}))?(?:\s*([+-])\s*(.+))?$`, 'i');

function bound(
  input: string,
  name: string,
  unit: Unit,
  text: string,
): Pick<Objective, 'threshold' | 'relative'> {
  const relative = RELATIVE.exec(text);
  if (relative === null) return { threshold: amount(input, name, unit, text, false) };
  const factor = relative[1] === undefined ? 1 : Number(relative[1]);
  const offset = relative[3] === undefined ? 0 : amount(input, name, unit, relative[3], true);
  return { threshold: relative[2] === '-' ? -offset : offset, relative: { factor } };
}

/** A value in the metric's unit: a percentage, a duration in ms, or a plain number. */
function amount(input: string, name: string, unit: Unit, text: string, offset: boolean): number {
  const value = text.trim();
  switch (unit) {
    case 'percent': {
      const percent = new RegExp(`^(${NUMBER})%?$`).exec(value);
      const n = Number(percent?.[1]);
      if (percent === null || n > 100) {
        const what = offset ? 'percentage points, e.g. primary+0.5%' : 'a percentage from 0 to 100, e.g. 99%';
        throw new InvalidObjectiveError(input, `${name} takes ${what}`);
      }
      return n;
    }
    case 'duration':
      try {
        return parseDuration(value);
      } catch {
        const what = offset ? 'e.g. primary+20ms' : 'e.g. 100ms, 1.5s or primary*1.2';
        throw new InvalidObjectiveError(input, `${name} takes a duration, ${what}`);
      }
    case 'number': {
      const signed = offset ? new RegExp(`^${NUMBER}$`) : new RegExp(`^-?${NUMBER}$`);
      if (!signed.test(value)) {
        throw new InvalidObjectiveError(
          input,
          `the metric template ${name} takes a number, e.g. ${name}<0.5, or primary*1.2, primary+0.1`,
        );
      }
      return Number(value);
    }
  }
}

/** An objective as a person reads it: `p99-latency <= primary × 1.2 + 5ms`, `error-rate < 1%`. */
export function formatObjective(objective: Objective): string {
  const unit = objective.metric === 'custom' ? '' : objective.metric.endsWith('rate') ? '%' : 'ms';
  const amount = (value: number) => `${value}${unit}`;
  if (objective.relative === undefined)
    return `${objective.name} ${objective.op} ${amount(objective.threshold)}`;
  const { factor } = objective.relative;
  const offset = objective.threshold;
  return (
    `${objective.name} ${objective.op} primary` +
    (factor === 1 ? '' : ` × ${factor}`) +
    (offset === 0 ? '' : ` ${offset < 0 ? '-' : '+'} ${amount(Math.abs(offset))}`)
  );
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
