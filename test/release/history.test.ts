import { describe, expect, it } from 'vitest';
import { defaultCanaryConfig, parseObjective } from '../../src/annotations.js';
import { runCheck } from '../../src/release/check.js';
import { CHECK_HISTORY_LIMIT, withCheck, type CheckRecord } from '../../src/release/history.js';

const side = (errorRate: number) => ({
  requests: 100,
  successRate: 100 - errorRate,
  errorRate,
  meanLatencyMs: 20,
  latencyQuantilesMs: {},
});

const analysisAt = (i: number, errorRate: number) => ({
  ...runCheck(
    { ok: true, metrics: { canary: side(errorRate), primary: side(1) } },
    [parseObjective('error-rate<=primary+0.5%')],
    defaultCanaryConfig().minRequests,
  ),
  at: new Date(Date.UTC(2026, 11, 7, 8, i)).toISOString(),
  weight: 10,
});

describe('the check history', () => {
  it('keeps each check with its numbers, oldest first', () => {
    let history: readonly CheckRecord[] = [];
    history = withCheck(history, analysisAt(0, 1));
    history = withCheck(history, analysisAt(1, 3));
    expect(history).toEqual([
      {
        at: '2026-12-07T08:00:00.000Z',
        weight: 10,
        result: 'passed',
        summary: 'error rate 1% <= 1.5% (primary 1% + 0.5%)',
        canaryRequests: 100,
        primaryRequests: 100,
        objectives: [{ objective: 'error-rate', value: 1, threshold: 1.5, primary: 1, passed: true }],
      },
      expect.objectContaining({ at: '2026-12-07T08:01:00.000Z', result: 'failed' }),
    ]);
  });

  it(`keeps only the last ${CHECK_HISTORY_LIMIT}`, () => {
    let history: readonly CheckRecord[] = [];
    for (let i = 0; i < 25; i++) history = withCheck(history, analysisAt(i, 1));
    expect(history).toHaveLength(CHECK_HISTORY_LIMIT);
    expect(history[0]?.at).toBe('2026-12-07T08:05:00.000Z');
    expect(history.at(-1)?.at).toBe('2026-12-07T08:24:00.000Z');
  });

  it('records why a check had no numbers', () => {
    const failed = {
      ...runCheck({ ok: false, error: { code: 'NoValues', message: 'no values' } }, [], 10),
      at: '2026-12-07T08:00:00.000Z',
      weight: 20,
    };
    expect(withCheck([], failed)[0]).toMatchObject({
      result: 'failed',
      error: 'NoValues',
      canaryRequests: null,
    });
  });
});
