import { describe, expect, it } from 'vitest';
import { noticesOf, wanted } from '../../src/notify/notices.js';
import { initialStatus, type ReleaseAction, type ReleaseStatus } from '../../src/release/status.js';

const at = Date.parse('2026-12-07T08:00:00Z');
const target = { namespace: 'shop', deployment: 'podinfo' };
const event = (reason: 'CanaryStarted' | 'WeightIncreased' | 'Reverted', message: string): ReleaseAction => ({
  type: 'event',
  kind: 'Normal',
  reason,
  message,
});
const status = (change: Partial<ReleaseStatus>): ReleaseStatus => ({ ...initialStatus(at), ...change });

describe('release notices', () => {
  it('tells the start and end of a release by default, each step only when asked, nothing when off', () => {
    expect(wanted('releases', 'CanaryStarted')).toBe(true);
    expect(wanted('releases', 'Promoted')).toBe(true);
    expect(wanted('releases', 'RolledBack')).toBe(true);
    expect(wanted('releases', 'Reverted')).toBe(true);
    expect(wanted('releases', 'WeightIncreased')).toBe(false);
    expect(wanted('steps', 'WeightIncreased')).toBe(true);
    expect(wanted('steps', 'CheckFailed')).toBe(true);
    expect(wanted('steps', 'CheckInconclusive')).toBe(false);
    expect(wanted('off', 'Promoted')).toBe(false);
  });

  it("carries the step's Event message and the release's facts", () => {
    const step = {
      status: status({
        phase: 'Progressing',
        candidateRevision: 'b2',
        stableRevision: 'a1',
        canaryWeight: 10,
      }),
      actions: [
        { type: 'setRoute', route: null } as const,
        event('CanaryStarted', 'New revision b2 detected: starting canary analysis'),
        event('WeightIncreased', 'Advance canary weight 10: canary ready'),
      ],
      at,
    };
    expect(noticesOf(target, 'releases', step)).toEqual([
      {
        namespace: 'shop',
        deployment: 'podinfo',
        reason: 'CanaryStarted',
        type: 'Normal',
        message: 'New revision b2 detected: starting canary analysis',
        revision: 'b2',
        stableRevision: 'a1',
        phase: 'Progressing',
        weight: 10,
        time: '2026-12-07T08:00:00.000Z',
      },
    ]);
    expect(noticesOf(target, 'steps', step).map((n) => n.reason)).toEqual([
      'CanaryStarted',
      'WeightIncreased',
    ]);
    expect(noticesOf(target, 'off', step)).toEqual([]);
  });

  it('names the reverted revision, which the step cleared from the status', () => {
    const step = {
      status: status({
        candidateRevision: null,
        stableRevision: 'a1',
        outcome: { reason: 'Reverted', revision: 'b2', message: 'reverted', at: '2026-12-07T08:00:00Z' },
      }),
      actions: [event('Reverted', 'Release of revision b2 ended')],
      at,
    };
    expect(noticesOf(target, 'releases', step)[0]).toMatchObject({ reason: 'Reverted', revision: 'b2' });
  });
});
