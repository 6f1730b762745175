/** One cumulative histogram bucket: observations at most `le` seconds. */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly within the bucket where it falls, the
 * way Prometheus's histogram_quantile computes it, so that both providers give the same number for the
 * same traffic. Null when the histogram is empty.
 */
export function quantileFromBuckets(q: number, buckets: readonly Bucket[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1);
  if (total === undefined || total.le !== Infinity || total.count <= 0) return null;
  const rank = q * total.count;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lowerLe;
      if (bucket.count === lowerCount) return bucket.le;
      return lowerLe + ((bucket.le - lowerLe) * (rank - lowerCount)) / (bucket.count - lowerCount);
    }
    lowerLe = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerLe;
}
