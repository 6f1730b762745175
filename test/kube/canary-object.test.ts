import { describe, expect, it } from 'vitest';
import {
  promotedCondition,
  readCanaryStatus,
  sameCanaryStatus,
  setCondition,
  writeCanaryStatus,
  type CanaryObject,
  type CanaryStatus,
  type Condition,
} from '../../src/kube/canary-object.js';
import { initialStatus, PHASES, type Phase, type ReleaseStatus } from '../../src/release/status.js';

const T0 = Date.parse('2026-11-22T08:00:00Z');
const MINUTE = 60_000;

const canary = (status: Record<string, unknown> | undefined): CanaryObject => ({
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'Canary',
  metadata: { name: 'podinfo', namespace: 'shop' },
  spec: { targetRef: { name: 'podinfo' } },
  ...(status !== undefined && { status }),
});

/** A release in the middle of its analysis, with every field set. */
const progressing = (): CanaryStatus => ({
  phase: 'Progressing',
  canaryWeight: 20,
  failedChecks: 1,
  iterations: 0,
  mirrorChecks: 0,
  stableRevision: '1a2b3c4d5e',
  candidateRevision: '6f7a8b9c0d',
  failedRevision: '0000aaaa11',
  startedAt: '2026-11-22T08:00:00.000Z',
  routedAt: '2026-11-22T08:01:00.000Z',
  lastCheckAt: '2026-11-22T08:03:00.000Z',
  pausedAt: null,
  pausedMs: 0,
  lastAnalysis: null,
  checkHistory: [],
  outcome: {
    reason: 'RolledBack',
    revision: '0000aaaa11',
    message: 'Rolling back revision 0000aaaa11: aborted by sluice abort',
    at: '2026-11-22T07:00:00.000Z',
  },
  lastTransitionTime: '2026-11-22T08:00:00.000Z',
  trackedConfigs: [{ kind: 'ConfigMap', name: 'podinfo-config' }],
  route: {
    url: 'http://podinfo-canary.shop:9898',
    weight: 20,
    match: [],
    segment: [],
    sticky: null,
  },
  conditions: [],
});

describe('reading the Canary status', () => {
  it('reads a Canary without status as a fresh release', () => {
    const fresh = { ...initialStatus(T0), trackedConfigs: [], route: null, conditions: [] };
    expect(readCanaryStatus(canary(undefined), T0)).toEqual(fresh);
    expect(readCanaryStatus(undefined, T0)).toEqual(fresh);
  });

  it('reads absent fields as null, and absent counts as 0', () => {
    const status = readCanaryStatus(canary({ phase: 'Progressing' }), T0);
    expect(status).toMatchObject({
      phase: 'Progressing',
      canaryWeight: 0,
      failedChecks: 0,
      iterations: 0,
      pausedMs: 0,
      stableRevision: null,
      candidateRevision: null,
      failedRevision: null,
      startedAt: null,
      routedAt: null,
      lastCheckAt: null,
      pausedAt: null,
      lastAnalysis: null,
      route: null,
      trackedConfigs: [],
      conditions: [],
    });
  });

  it('reads an unknown phase as Initialized', () => {
    expect(readCanaryStatus(canary({ phase: 'Exploded' }), T0).phase).toBe('Initialized');
    expect(readCanaryStatus(canary({ phase: 3 }), T0).phase).toBe('Initialized');
  });

  it('reads every phase it knows as itself', () => {
    for (const phase of PHASES) expect(readCanaryStatus(canary({ phase }), T0).phase).toBe(phase);
  });

  it('reads fields of the wrong type as absent', () => {
    const status = readCanaryStatus(
      canary({
        canaryWeight: '20',
        failedChecks: Number.NaN,
        stableRevision: 42,
        candidateRevision: '',
        trackedConfigs: 'podinfo-config',
        route: 'http://podinfo-canary.shop:9898',
        conditions: {},
      }),
      T0,
    );
    expect(status).toMatchObject({
      canaryWeight: 0,
      failedChecks: 0,
      stableRevision: null,
      candidateRevision: null,
      trackedConfigs: [],
      route: null,
      conditions: [],
    });
  });

  it('takes the transition time from the status, or now when it has none', () => {
    expect(
      readCanaryStatus(canary({ lastTransitionTime: '2026-11-21T10:00:00Z' }), T0).lastTransitionTime,
    ).toBe('2026-11-21T10:00:00Z');
    expect(readCanaryStatus(canary({}), T0).lastTransitionTime).toBe(new Date(T0).toISOString());
  });
});

describe('writing the Canary status', () => {
  it('leaves null fields out, as the API server would', () => {
    const written = writeCanaryStatus(progressing());
    expect(written).not.toHaveProperty('pausedAt');
    expect(written).not.toHaveProperty('lastAnalysis');
    expect(written).toMatchObject({ phase: 'Progressing', canaryWeight: 20, pausedMs: 0 });
  });

  it('keeps a null route, so that writing it clears the route every replica serves', () => {
    const written = writeCanaryStatus({ ...progressing(), route: null });
    expect(written).toHaveProperty('route', null);
  });

  it('reads back what it wrote', () => {
    for (const status of [progressing(), { ...progressing(), route: null, stableRevision: null }]) {
      const json = JSON.parse(JSON.stringify(writeCanaryStatus(status))) as Record<string, unknown>;
      expect(readCanaryStatus(canary(json), T0 + MINUTE)).toEqual(status);
    }
  });
});

describe('comparing Canary statuses', () => {
  it('finds a status the same as itself, and as what it reads back as', () => {
    expect(sameCanaryStatus(progressing(), progressing())).toBe(true);
    const json = JSON.parse(JSON.stringify(writeCanaryStatus(progressing()))) as Record<string, unknown>;
    expect(sameCanaryStatus(readCanaryStatus(canary(json), T0 + MINUTE), progressing())).toBe(true);
  });

  it('finds any change of a field, deep or shallow, a change', () => {
    const changes: Partial<CanaryStatus>[] = [
      { canaryWeight: 50 },
      { lastCheckAt: '2026-11-22T08:04:00.000Z' },
      { route: null },
      { route: { ...(progressing().route as NonNullable<CanaryStatus['route']>), weight: 50 } },
      { trackedConfigs: [] },
      { observedGeneration: 4 },
      {
        conditions: [
          { type: 'Promoted', status: 'False', reason: 'Progressing', message: '', lastTransitionTime: 'x' },
        ],
      },
    ];
    for (const change of changes) {
      expect(sameCanaryStatus(progressing(), { ...progressing(), ...change })).toBe(false);
    }
  });
});

describe('setting a condition', () => {
  const reachable = (status: Condition['status'], reason: string): Omit<Condition, 'lastTransitionTime'> => ({
    type: 'ProxyReachable',
    status,
    reason,
    message: `the proxies are ${reason}`,
  });

  it('adds a condition not there yet, with now as its transition time', () => {
    expect(setCondition([], reachable('True', 'Reachable'), T0)).toEqual([
      { ...reachable('True', 'Reachable'), lastTransitionTime: new Date(T0).toISOString() },
    ]);
  });

  it('keeps the transition time when the status is unchanged, and takes the new reason and message', () => {
    const first = setCondition([], reachable('False', 'Unreachable'), T0);
    const again = setCondition(first, reachable('False', 'Timeout'), T0 + MINUTE);
    expect(again).toEqual([
      { ...reachable('False', 'Timeout'), lastTransitionTime: new Date(T0).toISOString() },
    ]);
  });

  it('changes the transition time when the status changes', () => {
    const first = setCondition([], reachable('False', 'Unreachable'), T0);
    const flipped = setCondition(first, reachable('True', 'Reachable'), T0 + MINUTE);
    expect(flipped).toEqual([
      { ...reachable('True', 'Reachable'), lastTransitionTime: new Date(T0 + MINUTE).toISOString() },
    ]);
  });

  it('keeps one condition of each type, in type order, and leaves the others as they were', () => {
    const promoted = {
      ...promotedCondition(initialStatus(T0)),
      lastTransitionTime: '2026-11-20T00:00:00.000Z',
    };
    const conditions = setCondition([promoted], reachable('True', 'Reachable'), T0);
    expect(conditions.map((c) => c.type)).toEqual(['Promoted', 'ProxyReachable']);
    expect(conditions[0]).toEqual(promoted);
    const again = setCondition(conditions, reachable('True', 'Reachable'), T0 + MINUTE);
    expect(again).toEqual(conditions);
  });

  it('does not change the conditions it is given', () => {
    const first = setCondition([], reachable('False', 'Unreachable'), T0);
    const before = structuredClone(first);
    setCondition(first, reachable('True', 'Reachable'), T0 + MINUTE);
    expect(first).toEqual(before);
  });
});

describe('the Promoted condition', () => {
  const inPhase = (phase: Phase): ReleaseStatus => ({
    ...initialStatus(T0),
    phase,
    stableRevision: '1a2b3c4d5e',
    candidateRevision: phase === 'Initialized' || phase === 'Succeeded' ? null : '6f7a8b9c0d',
    failedRevision: phase === 'Failed' ? '6f7a8b9c0d' : null,
  });

  it('is True once a release has succeeded, naming the promoted revision', () => {
    const condition = promotedCondition(inPhase('Succeeded'));
    expect(condition).toMatchObject({ type: 'Promoted', status: 'True', reason: 'Succeeded' });
    expect(condition.message).toContain('1a2b3c4d5e');
  });

  it('is True while no release runs, so that kubectl wait does not hang on a Deployment at rest', () => {
    const condition = promotedCondition(inPhase('Initialized'));
    expect(condition).toMatchObject({ type: 'Promoted', status: 'True', reason: 'Initialized' });
    expect(condition.message).toContain('1a2b3c4d5e');
  });

  it('is False once a release was rolled back, naming the failed revision', () => {
    const condition = promotedCondition(inPhase('Failed'));
    expect(condition).toMatchObject({ type: 'Promoted', status: 'False', reason: 'Failed' });
    expect(condition.message).toContain('6f7a8b9c0d');
  });

  it('is False while a release runs, with the phase as its reason', () => {
    for (const phase of ['Progressing', 'Paused', 'Promoting', 'Finalising'] as const) {
      const condition = promotedCondition(inPhase(phase));
      expect(condition, phase).toMatchObject({ type: 'Promoted', status: 'False', reason: phase });
      expect(condition.message, phase).toContain('6f7a8b9c0d');
    }
  });

  it('covers every phase', () => {
    for (const phase of PHASES) expect(['True', 'False']).toContain(promotedCondition(inPhase(phase)).status);
  });
});
