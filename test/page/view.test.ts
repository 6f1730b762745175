import { describe, expect, it } from 'vitest';
import { ReleaseRecorder } from '../../src/page/view.js';

const start = Date.parse('2026-01-01T00:00:00Z');

const recorder = () =>
  new ReleaseRecorder({
    namespace: 'demo',
    deployment: 'podinfo',
    objectives: ['success-rate >= 99%'],
    maxWeight: 50,
    threshold: 2,
    phase: 'Initialized',
    startedAt: start,
  });

describe('the live page record of a release', () => {
  it('keeps a point only when the weight or the phase changes, timed from the start', () => {
    const r = recorder();
    r.status(start + 1_000, { phase: 'Progressing', weight: 0, failedChecks: 0 });
    r.status(start + 1_500, { phase: 'Progressing', weight: 0, failedChecks: 0 });
    r.status(start + 2_000, { phase: 'Progressing', weight: 10, failedChecks: 0 });
    r.status(start + 7_000, { phase: 'Progressing', weight: 10, failedChecks: 1 });
    const view = r.snapshot(start + 8_000);
    expect(view.points).toEqual([
      { t: 0, weight: 0, phase: 'Initialized' },
      { t: 1, weight: 0, phase: 'Progressing' },
      { t: 2, weight: 10, phase: 'Progressing' },
    ]);
    expect(view).toMatchObject({ phase: 'Progressing', weight: 10, failedChecks: 1, elapsed: 8 });
  });

  it('keeps checks, events, traffic and the result, and hands out copies', () => {
    const r = recorder();
    r.check(start + 5_000, {
      weight: 10,
      result: 'failed',
      message: 'success rate 70% < 99%',
      canary: null,
      primary: null,
    });
    r.event(start + 5_000, { type: 'Warning', reason: 'CheckFailed', message: 'Halt advancement' });
    r.traffic({ requests: 10, failures: 1, canaryRequests: 2, canaryFailures: 1 });
    r.finish('rolled-back');
    const view = r.snapshot(start + 6_000);
    expect(view.checks).toEqual([expect.objectContaining({ t: 5, result: 'failed' })]);
    expect(view.events).toEqual([expect.objectContaining({ t: 5, reason: 'CheckFailed' })]);
    expect(view).toMatchObject({ traffic: { canaryFailures: 1 }, result: 'rolled-back' });
    view.checks.length = 0;
    expect(r.snapshot(start).checks).toHaveLength(1);
  });
});
