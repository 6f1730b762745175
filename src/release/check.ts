import type { ComparisonOp, Objective } from '../annotations.js';
import { quantileKey, type ReleaseMetrics, type SideMetrics } from '../metrics/provider.js';

/** One objective held against the canary's number. */
export interface ObjectiveResult {
  readonly objective: string;
  readonly value: number | null;
  /** The bound the value was held to: fixed, or worked out from the primary's value; null when unknown. */
  readonly threshold: number | null;
  /** The primary's value, for an objective relative to it. */
  readonly primary?: number | null;
  readonly passed: boolean;
  /** "success rate 91.2% < 99%": the number, and why it passes or fails. */
  readonly summary: string;
}

export type CheckResult = 'passed' | 'failed' | 'inconclusive';

/** A check's outcome and its numbers, kept in status as `lastAnalysis`. */
export interface Check {
  readonly result: CheckResult;
  readonly summary: string;
  readonly objectives: readonly ObjectiveResult[];
  readonly canary: SideMetrics | null;
  readonly primary: SideMetrics | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** What the driver got from the provider for this window. */
export type Measurement =
  | { readonly ok: true; readonly metrics: ReleaseMetrics }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

const NEGATION: Record<ComparisonOp, ComparisonOp> = { '<': '>=', '<=': '>', '>': '<=', '>=': '<' };

const compare = (value: number, op: ComparisonOp, threshold: number): boolean => {
  switch (op) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
  }
};

export const formatPercent = (value: number): string => `${Math.round(value * 10) / 10}%`;

export const formatLatency = (ms: number): string =>
  ms < 1_000 ? `${Math.round(ms)}ms` : `${Math.round(ms / 10) / 100}s`;

const label = (objective: Objective): string =>
  objective.metric === 'custom' ? objective.name : objective.name.replace('-', ' ');

const formatNumber = (value: number): string => String(Number(value.toPrecision(4)));

const formatterOf = (objective: Objective): ((value: number) => string) =>
  objective.metric === 'custom'
    ? formatNumber
    : objective.metric.endsWith('rate')
      ? formatPercent
      : formatLatency;

export function valueOf(objective: Objective, side: SideMetrics): number | null {
  switch (objective.metric) {
    case 'success-rate':
      return side.successRate;
    case 'error-rate':
      return side.errorRate;
    case 'mean-latency':
      return side.meanLatencyMs;
    case 'quantile-latency':
      return side.latencyQuantilesMs[quantileKey(objective.quantile ?? 0)] ?? null;
    case 'custom':
      return side.custom?.[objective.name] ?? null;
  }
}

/**
 * The bound an objective holds the canary to: fixed, or the primary's value in the same window times the
 * factor plus the offset. A primary at 0 makes `primary*1.2` a bound of 0 (add an offset to allow some);
 * a primary without a value (no requests in the window) leaves the bound unknown.
 */
export function boundOf(objective: Objective, primary: number | null): number | null {
  if (objective.relative === undefined) return objective.threshold;
  if (primary === null) return null;
  return primary * objective.relative.factor + objective.threshold;
}

/** How a relative bound was made: `primary 100ms × 1.2 + 5ms`. */
function describeRelative(objective: Objective, primary: number): string {
  const format = formatterOf(objective);
  const factor = objective.relative?.factor ?? 1;
  const offset = objective.threshold;
  return (
    `primary ${format(primary)}` +
    (factor === 1 ? '' : ` × ${factor}`) +
    (offset === 0 ? '' : ` ${offset < 0 ? '-' : '+'} ${format(Math.abs(offset))}`)
  );
}

function holdObjective(objective: Objective, canary: SideMetrics, primarySide: SideMetrics): ObjectiveResult {
  const value = valueOf(objective, canary);
  const primary = objective.relative === undefined ? undefined : valueOf(objective, primarySide);
  const threshold = boundOf(objective, primary ?? null);
  const base = { objective: objective.name, value, threshold, ...(primary !== undefined && { primary }) };
  const format = formatterOf(objective);
  if (value === null) return { ...base, passed: false, summary: `${label(objective)} unknown` };
  if (threshold === null) {
    return { ...base, passed: false, summary: `${label(objective)} of the primary unknown` };
  }
  const passed = compare(value, objective.op, threshold);
  const op = passed ? objective.op : NEGATION[objective.op];
  const how = primary === undefined || primary === null ? '' : ` (${describeRelative(objective, primary)})`;
  return {
    ...base,
    passed,
    summary: `${label(objective)} ${format(value)} ${op} ${format(threshold)}${how}`,
  };
}

/**
 * One analysis check. A provider error fails it; fewer canary requests than `minRequests`, or a metric
 * the provider could not compute, makes it inconclusive: too little traffic says nothing either way.
 */
export function runCheck(
  measurement: Measurement,
  objectives: readonly Objective[],
  minRequests: number,
): Check {
  if (!measurement.ok) {
    return {
      result: 'failed',
      summary: `metrics unavailable: ${measurement.error.message}`,
      objectives: [],
      canary: null,
      primary: null,
      error: measurement.error,
    };
  }
  const { canary, primary } = measurement.metrics;
  const base = { canary, primary, error: null };
  if (canary.requests < minRequests) {
    return {
      ...base,
      result: 'inconclusive',
      summary: `${canary.requests} canary requests, fewer than min-requests ${minRequests}`,
      objectives: [],
    };
  }
  const results = objectives.map((objective) => holdObjective(objective, canary, primary));
  const unknown = results.filter((r) => r.value === null || r.threshold === null);
  if (unknown.length > 0) {
    return {
      ...base,
      result: 'inconclusive',
      summary: unknown.map((r) => r.summary).join(', '),
      objectives: results,
    };
  }
  const failed = results.filter((r) => !r.passed);
  return {
    ...base,
    result: failed.length === 0 ? 'passed' : 'failed',
    summary: (failed.length === 0 ? results : failed).map((r) => r.summary).join(', '),
    objectives: results,
  };
}
