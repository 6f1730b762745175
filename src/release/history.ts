import type { Analysis } from './status.js';

/** How many checks a release keeps in `status.checkHistory`: enough to read a trend, small in etcd. */
export const CHECK_HISTORY_LIMIT = 20;

/**
 * One check's numbers as kept in `status.checkHistory`: its verdict, the request counts of both sides and,
 * per objective, the canary's value, the bound it was held to and the primary's value for a relative one.
 */
export interface CheckRecord {
  readonly at: string;
  readonly weight: number;
  readonly result: Analysis['result'];
  readonly summary: string;
  readonly canaryRequests: number | null;
  readonly primaryRequests: number | null;
  readonly objectives: readonly {
    readonly objective: string;
    readonly value: number | null;
    readonly threshold: number | null;
    readonly primary?: number | null;
    readonly passed: boolean;
  }[];
  /** Why the numbers could not be had (a provider or template error's code). */
  readonly error?: string;
}

export function checkRecordOf(analysis: Analysis): CheckRecord {
  return {
    at: analysis.at,
    weight: analysis.weight,
    result: analysis.result,
    summary: analysis.summary,
    canaryRequests: analysis.canary?.requests ?? null,
    primaryRequests: analysis.primary?.requests ?? null,
    objectives: analysis.objectives.map(({ objective, value, threshold, primary, passed }) => ({
      objective,
      value,
      threshold,
      ...(primary !== undefined && { primary }),
      passed,
    })),
    ...(analysis.error !== null && { error: analysis.error.code }),
  };
}

/** The history with this check added, oldest first, the oldest dropped beyond the limit. */
export function withCheck(history: readonly CheckRecord[], analysis: Analysis): readonly CheckRecord[] {
  return [...history, checkRecordOf(analysis)].slice(-CHECK_HISTORY_LIMIT);
}
