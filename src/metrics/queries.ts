import type { CanaryTraffic } from './provider.js';

/**
 * Every PromQL query sluice sends, in one place (and in docs/annotations.md). Both sides of a release are read from
 * the primaries' proxies: the canary's numbers as `destination="canary"`, so that a canary that cannot be
 * reached counts against it (in the mirror phase, its copies: `destination="mirror"`), and the primary's as
 * `destination="local"`.
 */

export type Side = 'canary' | 'primary';

export interface QueryScope {
  readonly namespace: string;
  readonly deployment: string;
  readonly side: Side;
  readonly windowMs: number;
  readonly canaryTraffic?: CanaryTraffic;
}

const quote = (value: string): string => JSON.stringify(value);

export const canaryDestination = (traffic: CanaryTraffic = 'routed'): string =>
  traffic === 'mirrored' ? 'mirror' : 'canary';

function selector({ namespace, deployment, side, canaryTraffic }: QueryScope, extra = ''): string {
  const destination = side === 'canary' ? canaryDestination(canaryTraffic) : 'local';
  return (
    `{namespace=${quote(namespace)},deployment=${quote(deployment)},role="primary",` +
    `destination="${destination}"${extra}}`
  );
}

/** A range in whole seconds, at least one, as PromQL writes it. */
export const range = (windowMs: number): string => `${Math.max(1, Math.round(windowMs / 1000))}s`;

export const queries = {
  requests: (s: QueryScope) =>
    `sum(increase(sluice_proxy_requests_total${selector(s)}[${range(s.windowMs)}]))`,

  // 5xx answers, and gRPC calls that ended with any grpc-status but 0 (gRPC answers 200 either way): two
  // disjoint sets of series, joined.
  errors: (s: QueryScope) =>
    `sum(increase(sluice_proxy_requests_total${selector(s, ',code=~"5.."')}[${range(s.windowMs)}]) or ` +
    `increase(sluice_proxy_requests_total${selector(s, ',code!~"5..",grpc_status!~"0|"')}[${range(s.windowMs)}]))`,

  meanLatencySeconds: (s: QueryScope) =>
    `sum(increase(sluice_proxy_request_duration_seconds_sum${selector(s)}[${range(s.windowMs)}])) / ` +
    `sum(increase(sluice_proxy_request_duration_seconds_count${selector(s)}[${range(s.windowMs)}]))`,

  latencyQuantileSeconds: (s: QueryScope, quantile: number) =>
    `histogram_quantile(${quantile}, sum by (le) ` +
    `(increase(sluice_proxy_request_duration_seconds_bucket${selector(s)}[${range(s.windowMs)}])))`,
};
