import type { ComparisonOp, Objective } from '../annotations.js';
import { quantileKey, type ReleaseMetrics, type SideMetrics } from '../metrics/provider.js';

/** One objective held against the canary's number. */
export interface ObjectiveResult {
  readonly objective: string;
  readonly value: number | null;
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
  objective.metric === 'quantile-latency'
    ? objective.name.replace('-', ' ')
    : objective.metric.replace('-', ' ');

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
  }
}

function holdObjective(objective: Objective, side: SideMetrics): ObjectiveResult {
  const value = valueOf(objective, side);
  const format = objective.metric.endsWith('rate') ? formatPercent : formatLatency;
  if (value === null) {
    return { objective: objective.name, value, passed: false, summary: `${label(objective)} unknown` };
  }
  const passed = compare(value, objective.op, objective.threshold);
  const op = passed ? objective.op : NEGATION[objective.op];
  return {
    objective: objective.name,
    value,
    passed,
    summary: `${label(objective)} ${format(value)} ${op} ${format(objective.threshold)}`,
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
  const results = objectives.map((objective) => holdObjective(objective, canary));
  const unknown = results.filter((r) => r.value === null);
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
