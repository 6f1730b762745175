import { type Sample, seriesKey } from './exposition.js';
import { type Bucket, quantileFromBuckets } from './histogram.js';
import { type CanaryTraffic, quantileKey, type SideMetrics } from './provider.js';
import { canaryDestination } from './queries.js';

/** What one proxy's /metrics said at one moment. */
export interface Scrape {
  readonly at: number;
  readonly samples: readonly Sample[];
}

/**
 * How much each counter of one proxy grew over a window, from its scrapes in time order. The baseline is
 * the last scrape at or before the window's start; a proxy first seen inside the window counts from zero
 * when it is new (`bornInWindow`: it was not there while others were scraped) and from its first scrape
 * otherwise. A counter that went down between two scrapes was reset (the proxy restarted) and counts
 * from zero again, as Prometheus's increase() does.
 */
export function increaseOver(
  scrapes: readonly Scrape[],
  from: number,
  to: number,
  bornInWindow: boolean,
): Sample[] {
  const inWindow = scrapes.filter((s) => s.at > from && s.at <= to);
  const before = scrapes.filter((s) => s.at <= from).at(-1);
  const chain = before !== undefined ? [before, ...inWindow] : inWindow;
  if (chain.length === 0) return [];
  const start: Scrape =
    before === undefined && bornInWindow ? { at: from, samples: [] } : (chain[0] as Scrape);
  const rest = before === undefined && bornInWindow ? chain : chain.slice(1);

  const totals = new Map<string, { sample: Sample; value: number }>();
  let previous = indexByKey(start.samples);
  for (const scrape of rest) {
    const current = indexByKey(scrape.samples);
    for (const [key, sample] of current) {
      const prior = previous.get(key)?.value ?? 0;
      const grew = sample.value >= prior ? sample.value - prior : sample.value;
      const entry = totals.get(key) ?? { sample, value: 0 };
      entry.value += grew;
      totals.set(key, entry);
    }
    previous = current;
  }
  return [...totals.values()].map(({ sample, value }) => ({ ...sample, value }));
}

function indexByKey(samples: readonly Sample[]): Map<string, Sample> {
  return new Map(samples.map((s) => [seriesKey(s.name, s.labels), s]));
}

const REQUESTS = 'sluice_proxy_requests_total';
const DURATION = 'sluice_proxy_request_duration_seconds';

/** Selects one side of a release: the labels its series must carry. */
export type Selector = Readonly<Record<string, string>>;

const matches = (sample: Sample, selector: Selector): boolean =>
  Object.entries(selector).every(([k, v]) => sample.labels[k] === v);

/**
 * One side's numbers from counter increases summed over its proxies: requests and errors from the request
 * counter, mean from the histogram's sum and count, quantiles from its buckets.
 */
export function sideFromIncreases(
  increases: readonly Sample[],
  selector: Selector,
  quantiles: readonly number[],
): SideMetrics {
  let requests = 0;
  let errors = 0;
  let seconds = 0;
  let observations = 0;
  const buckets = new Map<number, number>();
  for (const sample of increases) {
    if (!matches(sample, selector)) continue;
    if (sample.name === REQUESTS) {
      requests += sample.value;
      if (isError(sample.labels)) errors += sample.value;
    } else if (sample.name === `${DURATION}_sum`) {
      seconds += sample.value;
    } else if (sample.name === `${DURATION}_count`) {
      observations += sample.value;
    } else if (sample.name === `${DURATION}_bucket`) {
      const le = sample.labels['le'] === '+Inf' ? Infinity : Number(sample.labels['le']);
      buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
    }
  }
  const bucketList: Bucket[] = [...buckets].map(([le, count]) => ({ le, count }));
  const latencyQuantilesMs: Record<string, number | null> = {};
  for (const q of quantiles) {
    const value = observations > 0 ? quantileFromBuckets(q, bucketList) : null;
    latencyQuantilesMs[quantileKey(q)] = value === null ? null : value * 1000;
  }
  return sideMetrics(
    requests,
    errors,
    observations > 0 ? (seconds / observations) * 1000 : null,
    latencyQuantilesMs,
  );
}

/**
 * A failed request: a 5xx answer, or a gRPC call that ended with any `grpc-status` but 0 (OK), which a
 * gRPC server answers with HTTP 200.
 */
export function isError(labels: Readonly<Record<string, string>>): boolean {
  if (/^5\d\d$/.test(labels['code'] ?? '')) return true;
  const grpcStatus = labels['grpc_status'];
  return grpcStatus !== undefined && grpcStatus !== '' && grpcStatus !== '0';
}

/** Rates from counts, null when there were no requests. */
export function sideMetrics(
  requests: number,
  errors: number,
  meanLatencyMs: number | null,
  latencyQuantilesMs: Readonly<Record<string, number | null>>,
): SideMetrics {
  const errorRate = requests > 0 ? (100 * errors) / requests : null;
  return {
    requests,
    errorRate,
    successRate: errorRate === null ? null : 100 - errorRate,
    meanLatencyMs: requests > 0 ? meanLatencyMs : null,
    latencyQuantilesMs: requests > 0 ? latencyQuantilesMs : nulls(latencyQuantilesMs),
  };
}

function nulls(record: Readonly<Record<string, number | null>>): Record<string, null> {
  return Object.fromEntries(Object.keys(record).map((k) => [k, null]));
}

/** The label sets of the two sides (DESIGN.md, "The proxy"): both as the primaries' proxies measure them. */
export function selectors(
  namespace: string,
  deployment: string,
  canaryTraffic: CanaryTraffic = 'routed',
): { canary: Selector; primary: Selector } {
  return {
    canary: { namespace, deployment, role: 'primary', destination: canaryDestination(canaryTraffic) },
    primary: { namespace, deployment, role: 'primary', destination: 'local' },
  };
}
