/**
 * What analysis asks of a metrics provider (DESIGN.md, "Analysis"): for one release, over one window, the
 * request count and each objective's metric, for the canary and for the primary.
 */

/** One side of a release over a window. Rates are percent; latencies milliseconds; null when no requests. */
export interface SideMetrics {
  readonly requests: number;
  readonly successRate: number | null;
  readonly errorRate: number | null;
  readonly meanLatencyMs: number | null;
  /** Latency quantiles by quantile (`0.95`), each as asked for. */
  readonly latencyQuantilesMs: Readonly<Record<string, number | null>>;
  /** Metric templates' values by template name, when the objectives name any (Prometheus only). */
  readonly custom?: Readonly<Record<string, number | null>>;
}

export interface ReleaseMetrics {
  readonly canary: SideMetrics;
  readonly primary: SideMetrics;
}

/** The Deployment whose proxies measure the release. */
export interface ReleaseTarget {
  readonly namespace: string;
  readonly deployment: string;
}

export interface MetricsQuery {
  readonly target: ReleaseTarget;
  readonly windowMs: number;
  /** The latency quantiles the objectives name, e.g. [0.95, 0.99]. */
  readonly quantiles: readonly number[];
  /** The end of the window, in ms since the epoch. */
  readonly at: number;
  /**
   * Which of the canary's requests to measure: those routed to it [routed], or, in the mirror phase, the
   * copies the primaries' proxies sent it (`destination="mirror"`).
   */
  readonly canaryTraffic?: CanaryTraffic;
}

export type CanaryTraffic = 'routed' | 'mirrored';

export interface MetricsProvider {
  readonly name: string;
  /** Throws a MetricsError when the numbers cannot be had. */
  measure(query: MetricsQuery): Promise<ReleaseMetrics>;
  /**
   * For a provider that keeps its own history (direct): takes a sample now, e.g. when the canary gets its
   * route, so that the first window has a baseline.
   */
  scrape?(target: ReleaseTarget, at?: number): Promise<void>;
  /**
   * For a provider that runs PromQL (prometheus): an instant query's single value at `at`, undefined when
   * it has none, null when it is NaN. Metric templates need it.
   */
  scalar?(promql: string, at: number): Promise<number | null | undefined>;
}

export const quantileKey = (quantile: number): string => String(quantile);
