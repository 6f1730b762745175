import { describe, expect, it } from 'vitest';
import { parseObjective } from '../../src/annotations.js';
import { formatLatency, formatPercent, runCheck } from '../../src/release/check.js';

const side = {
  requests: 200,
  successRate: 98.5,
  errorRate: 1.5,
  meanLatencyMs: 42,
  latencyQuantilesMs: { '0.95': 120, '0.99': null },
};
const measured = { ok: true as const, metrics: { canary: side, primary: side } };

describe('an analysis check', () => {
  it('passes when every objective holds, listing each number', () => {
    const check = runCheck(measured, ['error-rate<2%', 'mean-latency<=42ms'].map(parseObjective), 10);
    expect(check.result).toBe('passed');
    expect(check.summary).toBe('error rate 1.5% < 2%, mean latency 42ms <= 42ms');
  });

  it('fails naming only the objectives that missed', () => {
    const check = runCheck(measured, ['error-rate<1%', 'p95-latency<200ms'].map(parseObjective), 10);
    expect(check.result).toBe('failed');
    expect(check.summary).toBe('error rate 1.5% >= 1%');
    expect(check.objectives.map((o) => o.passed)).toEqual([false, true]);
  });

  it('is inconclusive when a metric has no value', () => {
    const check = runCheck(measured, [parseObjective('p99-latency<1s')], 10);
    expect(check.result).toBe('inconclusive');
    expect(check.summary).toBe('p99 latency unknown');
  });

  it('formats rates to a tenth of a percent and latencies in ms or seconds', () => {
    expect([formatPercent(91.234), formatPercent(100), formatLatency(812.6), formatLatency(1234)]).toEqual([
      '91.2%',
      '100%',
      '813ms',
      '1.23s',
    ]);
  });
});
