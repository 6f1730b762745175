import { describe, expect, it } from 'vitest';
import { parseObjective } from '../../src/annotations.js';
import type { SideMetrics } from '../../src/metrics/provider.js';
import { formatLatency, formatPercent, runCheck } from '../../src/release/check.js';

const side: SideMetrics = {
  requests: 200,
  successRate: 98.5,
  errorRate: 1.5,
  meanLatencyMs: 42,
  latencyQuantilesMs: { '0.95': 120, '0.99': null },
};
const measured = { ok: true as const, metrics: { canary: side, primary: side } };

describe('an analysis check', () => {
  it('passes when every objective holds, listing each number', () => {
    const check = runCheck(
      measured,
      ['error-rate<2%', 'mean-latency<=42ms'].map((text) => parseObjective(text)),
      10,
    );
    expect(check.result).toBe('passed');
    expect(check.summary).toBe('error rate 1.5% < 2%, mean latency 42ms <= 42ms');
  });

  it('fails naming only the objectives that missed', () => {
    const check = runCheck(
      measured,
      ['error-rate<1%', 'p95-latency<200ms'].map((text) => parseObjective(text)),
      10,
    );
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

describe('a check with objectives relative to the primary', () => {
  const sides = (canary: Partial<SideMetrics>, primary: Partial<SideMetrics>) => ({
    ok: true as const,
    metrics: { canary: { ...side, ...canary }, primary: { ...side, ...primary } },
  });

  it('holds the canary to the primary times the factor, saying how the bound was made', () => {
    const objective = parseObjective('p95-latency<=primary*1.2');
    const slower = runCheck(
      sides({ latencyQuantilesMs: { '0.95': 130 } }, { latencyQuantilesMs: { '0.95': 100 } }),
      [objective],
      10,
    );
    expect(slower.result).toBe('failed');
    expect(slower.summary).toBe('p95 latency 130ms > 120ms (primary 100ms × 1.2)');
    expect(slower.objectives[0]).toMatchObject({ value: 130, threshold: 120, primary: 100, passed: false });

    const close = runCheck(
      sides({ latencyQuantilesMs: { '0.95': 119 } }, { latencyQuantilesMs: { '0.95': 100 } }),
      [objective],
      10,
    );
    expect(close.result).toBe('passed');
  });

  it('adds an offset in percentage points to a rate', () => {
    const objective = parseObjective('error-rate<=primary+0.5%');
    const check = runCheck(sides({ errorRate: 1.6 }, { errorRate: 1 }), [objective], 10);
    expect(check.result).toBe('failed');
    expect(check.summary).toBe('error rate 1.6% > 1.5% (primary 1% + 0.5%)');
    expect(runCheck(sides({ errorRate: 1.5 }, { errorRate: 1 }), [objective], 10).result).toBe('passed');
  });

  it('with a primary at 0, a factor alone allows nothing and an offset allows the offset', () => {
    const factor = parseObjective('error-rate<=primary*2');
    expect(runCheck(sides({ errorRate: 0.1 }, { errorRate: 0 }), [factor], 10).result).toBe('failed');
    expect(runCheck(sides({ errorRate: 0 }, { errorRate: 0 }), [factor], 10).result).toBe('passed');
    const offset = parseObjective('error-rate<=primary*2+0.5%');
    expect(runCheck(sides({ errorRate: 0.4 }, { errorRate: 0 }), [offset], 10).result).toBe('passed');
  });

  it('is inconclusive when the primary has no value in the window', () => {
    const check = runCheck(
      sides({}, { requests: 0, errorRate: null, successRate: null }),
      [parseObjective('error-rate<=primary+1%')],
      10,
    );
    expect(check.result).toBe('inconclusive');
    expect(check.summary).toBe('error rate of the primary unknown');
    expect(check.objectives[0]).toMatchObject({ value: 1.5, threshold: null, primary: null });
  });

  it('holds a template metric, fixed or relative', () => {
    const measured = sides({ custom: { 'queue-depth': 12 } }, { custom: { 'queue-depth': 10 } });
    const objectives = [
      parseObjective('queue-depth<=20', { templates: true }),
      parseObjective('queue-depth<=primary*1.1', { templates: true }),
    ];
    const check = runCheck(measured, objectives, 10);
    expect(check.result).toBe('failed');
    expect(check.summary).toBe('queue-depth 12 > 11 (primary 10 × 1.1)');
  });
});
