import { describe, expect, it } from 'vitest';
import { quantileFromBuckets } from '../../src/metrics/histogram.js';

const buckets = [
  { le: 0.01, count: 0 },
  { le: 0.05, count: 50 },
  { le: 0.1, count: 90 },
  { le: Infinity, count: 100 },
];

describe('a quantile from histogram buckets', () => {
  it('interpolates within the bucket where the rank falls', () => {
    expect(quantileFromBuckets(0.5, buckets)).toBeCloseTo(0.05);
    expect(quantileFromBuckets(0.7, buckets)).toBeCloseTo(0.075);
    expect(quantileFromBuckets(0.25, buckets)).toBeCloseTo(0.03);
  });

  it('starts the first bucket at zero', () => {
    expect(
      quantileFromBuckets(0.5, [
        { le: 1, count: 10 },
        { le: Infinity, count: 10 },
      ]),
    ).toBeCloseTo(0.5);
  });

  it('answers the highest finite bound when the rank falls in +Inf, as Prometheus does', () => {
    expect(quantileFromBuckets(0.99, buckets)).toBe(0.1);
  });

  it('accepts buckets in any order', () => {
    expect(quantileFromBuckets(0.7, [...buckets].reverse())).toBeCloseTo(0.075);
  });

  it('has no quantile for an empty histogram or one without +Inf', () => {
    expect(quantileFromBuckets(0.5, [{ le: Infinity, count: 0 }])).toBeNull();
    expect(quantileFromBuckets(0.5, [{ le: 1, count: 3 }])).toBeNull();
    expect(quantileFromBuckets(0.5, [])).toBeNull();
  });
});
