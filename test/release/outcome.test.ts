import { describe, expect, it } from 'vitest';
import { endedRelease } from '../../src/release/outcome.js';
import { initialStatus, type ReleaseAction } from '../../src/release/status.js';

const started = Date.parse('2026-12-07T08:00:00Z');
const status = { ...initialStatus(started), startedAt: '2026-12-07T08:00:00.000Z' };
const event = (reason: 'Promoted' | 'RolledBack' | 'Reverted' | 'CanaryCancelled' | 'WeightIncreased') =>
  ({ type: 'event', kind: 'Normal', reason, message: reason }) as const;
const step = (actions: ReleaseAction[], minutes: number) => ({
  status,
  actions,
  at: started + minutes * 60_000,
});

describe('how a release ended', () => {
  it('is promoted, with its duration and the lead time from the change', () => {
    const changed = started - 10 * 60_000;
    expect(endedRelease(step([event('Promoted')], 20), changed)).toEqual({
      result: 'promoted',
      durationSeconds: 1200,
      leadTimeSeconds: 1800,
    });
  });

  it('takes the start as the change when the change time is unknown or later (another write)', () => {
    expect(endedRelease(step([event('Promoted')], 20), null)?.leadTimeSeconds).toBe(1200);
    expect(endedRelease(step([event('Promoted')], 20), started + 5 * 60_000)?.leadTimeSeconds).toBe(1200);
  });

  it('is rolled back by analysis, aborted by sluice abort or opting out, or reverted', () => {
    expect(endedRelease(step([event('RolledBack')], 5), null)).toEqual({
      result: 'rolled_back',
      durationSeconds: 300,
      leadTimeSeconds: null,
    });
    const abort: ReleaseAction = { type: 'clearAction', action: 'abort' };
    expect(endedRelease(step([abort, event('RolledBack')], 5), null)?.result).toBe('aborted');
    expect(endedRelease(step([event('CanaryCancelled')], 5), null)?.result).toBe('aborted');
    expect(endedRelease(step([event('Reverted')], 5), null)?.result).toBe('reverted');
  });

  it('is not over after a step that ended nothing', () => {
    expect(endedRelease(step([event('WeightIncreased')], 5), null)).toBeNull();
  });
});
