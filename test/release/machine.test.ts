import { describe, expect, it } from 'vitest';
import { type CanaryConfig, parseCanaryAnnotations } from '../../src/annotations.js';
import type { Measurement } from '../../src/release/check.js';
import { canaryShare, nextCheckAt, quantilesOf, step } from '../../src/release/machine.js';
import {
  initialStatus,
  type Observations,
  type ReleaseAction,
  type ReleaseStatus,
} from '../../src/release/status.js';
import { canaryWith, healthy } from '../support/measurements.js';

const T0 = Date.parse('2026-11-22T08:00:00Z');
const MINUTE = 60_000;

const configOf = (annotations: Record<string, string> = {}): CanaryConfig => {
  const result = parseCanaryAnnotations({ 'sluice.dev/canary': 'enabled', ...annotations });
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.config;
};

/**
 * A release driven tick by tick: a fake clock, a scripted world (revisions, readiness) and the status the
 * machine returns, as the controller would store it. Each tick records its actions.
 */
class Release {
  now = T0;
  status: ReleaseStatus = initialStatus(T0);
  world: Omit<Observations, 'measurement' | 'action'> = {
    stableRevision: 'aaa',
    candidateRevision: null,
    canaryReady: false,
    primaryReady: true,
    canaryProblem: null,
    gates: [],
  };
  actions: readonly ReleaseAction[] = [];

  constructor(public config: CanaryConfig = configOf()) {}

  tick(seen: Partial<Observations> = {}): this {
    const result = step(
      this.status,
      { measurement: null, action: null, ...this.world, ...seen },
      this.config,
      this.now,
    );
    this.status = result.status;
    this.actions = result.actions;
    return this;
  }

  /** Lets one interval pass and ticks with a measurement, as the controller's timer does. */
  check(measurement: Measurement = healthy): this {
    this.now += this.config.intervalMs;
    return this.tick({ measurement });
  }

  set(world: Partial<Release['world']>): this {
    this.world = { ...this.world, ...world };
    return this;
  }

  /** A held change whose canary is ready and routed. */
  started(candidate = 'bbb'): this {
    this.set({ candidateRevision: candidate }).tick();
    this.now += 5_000;
    return this.set({ canaryReady: true }).tick();
  }

  events(): string[] {
    return this.actions.flatMap((a) => (a.type === 'event' ? [`${a.reason}: ${a.message}`] : []));
  }

  reasons(): string[] {
    return this.actions.flatMap((a) => (a.type === 'event' ? [a.reason] : []));
  }

  types(): string[] {
    return this.actions.map((a) => a.type);
  }

  routeWeight(): number | null | undefined {
    const route = this.actions.findLast((a) => a.type === 'setRoute');
    return route === undefined ? undefined : (route.route?.weight ?? null);
  }
}

describe('the release state machine', () => {
  it('does nothing while no change is held', () => {
    const release = new Release().tick();
    expect(release.status.phase).toBe('Initialized');
    expect(release.actions).toEqual([]);
  });

  it('starts a canary for a held change and routes to it only once it is ready', () => {
    const release = new Release().set({ candidateRevision: 'bbb' }).tick();
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 0, candidateRevision: 'bbb' });
    expect(release.actions[0]).toEqual({ type: 'createCanary', revision: 'bbb' });
    expect(release.events()).toEqual([
      'CanaryStarted: New revision bbb detected (stable aaa): starting canary analysis',
    ]);

    release.tick();
    expect(release.actions).toEqual([]);

    release.set({ canaryReady: true }).tick();
    expect(release.status.canaryWeight).toBe(10);
    expect(release.actions).toContainEqual({
      type: 'setRoute',
      route: { weight: 10, match: [], segment: [], sticky: null },
    });
    expect(release.reasons()).toEqual(['WeightIncreased']);
  });

  it('steps the weight once per passing check up to the max, then promotes', () => {
    const release = new Release().started();
    const weights = [release.status.canaryWeight];
    for (let i = 0; i < 4; i++) weights.push(release.check().status.canaryWeight);
    expect(weights).toEqual([10, 20, 30, 40, 50]);
    expect(release.events()).toEqual([
      'WeightIncreased: Advance canary weight 50: success rate 100% >= 99%, p99 latency 80ms <= 500ms',
    ]);

    release.check();
    expect(release.status).toMatchObject({ phase: 'Promoting', canaryWeight: 50 });
    expect(release.actions).toContainEqual({ type: 'promote', revision: 'bbb' });
    expect(release.routeWeight()).toBeUndefined();
  });

  it('keeps the canary weight while promoting until the primary reports ready at the new revision', () => {
    const release = new Release().started();
    for (let i = 0; i < 5; i++) release.check();
    expect(release.status.phase).toBe('Promoting');

    release.set({ stableRevision: 'bbb', candidateRevision: null, primaryReady: false }).tick();
    expect(release.status).toMatchObject({ phase: 'Promoting', canaryWeight: 50 });
    expect(release.actions).toEqual([]);

    release.set({ primaryReady: true }).tick();
    expect(release.status).toMatchObject({ phase: 'Finalising', canaryWeight: 0 });
    expect(release.types()).toEqual(['setRoute', 'deleteCanary', 'event']);
    expect(release.routeWeight()).toBeNull();

    release.now += 1_000;
    release.tick();
    expect(release.status.phase).toBe('Succeeded');
    expect(release.events()).toEqual(['Promoted: Promotion completed: revision bbb is stable (took 5m6s)']);
  });

  it('does not check before the interval has passed', () => {
    const release = new Release().started();
    release.now += 30_000;
    release.tick({ measurement: healthy });
    expect(release.status.canaryWeight).toBe(10);
    expect(release.status.lastAnalysis).toBeNull();
    expect(nextCheckAt(release.status, release.config)).toBe(T0 + 5_000 + MINUTE);
  });

  it('steps through explicit step-weights', () => {
    const release = new Release(configOf({ 'sluice.dev/step-weights': '1,5,25,50' })).started();
    const weights = [release.status.canaryWeight];
    for (let i = 0; i < 3; i++) weights.push(release.check().status.canaryWeight);
    expect(weights).toEqual([1, 5, 25, 50]);
    expect(release.check().status.phase).toBe('Promoting');
  });

  it('promotes at max-weight', () => {
    const release = new Release(configOf({ 'sluice.dev/step-weight': '30', 'sluice.dev/max-weight': '60' }));
    release.started();
    expect([release.status.canaryWeight, release.check().status.canaryWeight]).toEqual([30, 60]);
    expect(release.check().status.phase).toBe('Promoting');
  });

  it('halts on a failed check and says which objective failed, with the numbers', () => {
    const release = new Release().started().check(canaryWith({ successRate: 91.23, errorRate: 8.77 }));
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 10, failedChecks: 1 });
    expect(release.actions).toEqual([
      {
        type: 'event',
        kind: 'Warning',
        reason: 'CheckFailed',
        message: 'Halt advancement: success rate 91.2% < 99% (failed checks 1/5)',
      },
    ]);
    expect(release.status.lastAnalysis).toMatchObject({ result: 'failed', weight: 10 });
  });

  it('fails a check on latency', () => {
    const release = new Release(configOf({ 'sluice.dev/objectives': 'p95-latency<100ms,mean-latency<1s' }));
    release.started().check(canaryWith({ latencyQuantilesMs: { '0.95': 812.4 }, meanLatencyMs: 1500 }));
    expect(release.events()).toEqual([
      'CheckFailed: Halt advancement: p95 latency 812ms >= 100ms, mean latency 1.5s >= 1s (failed checks 1/5)',
    ]);
  });

  it('rolls back when failed checks reach the threshold, counting them across the whole release', () => {
    const release = new Release(configOf({ 'sluice.dev/threshold': '3' })).started();
    const bad = canaryWith({ successRate: 80, errorRate: 20 });
    release.check(bad).check().check(bad);
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 20, failedChecks: 2 });

    release.check(bad);
    expect(release.status).toMatchObject({
      phase: 'Failed',
      canaryWeight: 0,
      failedChecks: 3,
      failedRevision: 'bbb',
    });
    expect(release.types()).toEqual(['setRoute', 'deleteCanary', 'markFailed', 'event']);
    expect(release.routeWeight()).toBeNull();
    expect(release.events()).toEqual([
      'RolledBack: Rolling back revision bbb: 3 failed checks (threshold 3); last: success rate 80% < 99%',
    ]);
  });

  it('counts a provider error as a failed check', () => {
    const release = new Release().started();
    release.check({ ok: false, error: { code: 'PrometheusUnreachable', message: 'connect ECONNREFUSED' } });
    expect(release.status.failedChecks).toBe(1);
    expect(release.events()).toEqual([
      'CheckFailed: Halt advancement: metrics unavailable: connect ECONNREFUSED (failed checks 1/5)',
    ]);
  });

  it('treats a window with fewer than min-requests as inconclusive: no step, no failure', () => {
    const release = new Release(configOf({ 'sluice.dev/min-requests': '50' })).started();
    release.check(canaryWith({ requests: 12, successRate: 50 }));
    expect(release.status).toMatchObject({ canaryWeight: 10, failedChecks: 0 });
    expect(release.status.lastAnalysis?.result).toBe('inconclusive');
    expect(release.events()).toEqual([
      'CheckInconclusive: Check inconclusive: 12 canary requests, fewer than min-requests 50',
    ]);
    expect(release.check().status.canaryWeight).toBe(20);
  });

  it('rolls back when the progress deadline passes', () => {
    const release = new Release(configOf({ 'sluice.dev/progress-deadline': '5m' })).started();
    const inconclusive = canaryWith({ requests: 0 });
    for (let i = 0; i < 4; i++) release.check(inconclusive);
    expect(release.status.phase).toBe('Progressing');
    release.check(inconclusive);
    expect(release.status.phase).toBe('Failed');
    expect(release.events()).toEqual([
      'RolledBack: Rolling back revision bbb: progress deadline 5m exceeded',
    ]);
  });

  it('rolls back a canary that is not ready two intervals after it started, with the pods’ reason', () => {
    const release = new Release(configOf({ 'sluice.dev/interval': '30s' }));
    release.set({ candidateRevision: 'bbb' }).tick();
    release.now += 30_000;
    release.set({
      canaryProblem: 'pod podinfo-canary-x: container podinfo CrashLoopBackOff, last exit code 1',
    });
    expect(release.tick().status.phase).toBe('Progressing');
    release.now += 30_000;
    release.tick();
    expect(release.status).toMatchObject({ phase: 'Failed', failedRevision: 'bbb', canaryWeight: 0 });
    expect(release.types()).toEqual(['setRoute', 'deleteCanary', 'markFailed', 'event']);
    expect(release.events()).toEqual([
      'RolledBack: Rolling back revision bbb: the canary did not become ready within 1m: pod podinfo-canary-x: container podinfo CrashLoopBackOff, last exit code 1',
    ]);
    expect(release.status.outcome).toMatchObject({ reason: 'RolledBack', revision: 'bbb' });
  });

  it('says only that the pods are not ready when the kubelet gives no reason', () => {
    const release = new Release(configOf({ 'sluice.dev/interval': '30s' }));
    release.set({ candidateRevision: 'bbb' }).tick();
    release.now += 60_000;
    release.tick();
    expect(release.events()).toEqual([
      'RolledBack: Rolling back revision bbb: the canary did not become ready within 1m: its pods are not ready',
    ]);
  });

  it('does not count a pause against the canary’s time to become ready', () => {
    const release = new Release(configOf({ 'sluice.dev/interval': '30s' }));
    release.set({ candidateRevision: 'bbb' }).tick();
    release.tick({ action: 'pause' });
    release.now += 5 * MINUTE;
    release.tick({ action: 'resume' });
    release.now += 30_000;
    expect(release.tick().status.phase).toBe('Progressing');
  });

  it('promotes without a canary when skip-analysis is set', () => {
    const release = new Release(configOf({ 'sluice.dev/skip-analysis': 'true' }));
    release.set({ candidateRevision: 'bbb' }).tick();
    expect(release.status.phase).toBe('Promoting');
    expect(release.types()).toEqual(['promote', 'event']);
    release.set({ stableRevision: 'bbb', candidateRevision: null }).tick().tick();
    expect(release.status.phase).toBe('Succeeded');
  });

  it('promotes a running release when skip-analysis is set during it', () => {
    const release = new Release().started();
    release.config = configOf({ 'sluice.dev/skip-analysis': 'true' });
    release.tick();
    expect(release.status).toMatchObject({ phase: 'Promoting', canaryWeight: 10 });
  });

  it('in A/B mode keeps the weight at 0, routes only matches and promotes after the iterations', () => {
    const release = new Release(
      configOf({ 'sluice.dev/iterations': '3', 'sluice.dev/match': 'traffic=test' }),
    ).started();
    expect(release.actions[0]).toEqual({
      type: 'setRoute',
      route: { weight: 0, match: [{ header: 'traffic', exact: 'test' }], segment: [], sticky: null },
    });
    expect(release.reasons()).toEqual(['CanaryReady']);

    release.check().check(canaryWith({ requests: 2 }));
    expect(release.status).toMatchObject({ canaryWeight: 0, iterations: 1 });
    release.check();
    expect(release.events()).toEqual([
      'CheckPassed: Advance canary iteration 2/3: success rate 100% >= 99%, p99 latency 80ms <= 500ms',
    ]);
    release.check();
    expect(release.status.phase).toBe('Promoting');
  });

  it('puts segment and sticky key in every route it publishes', () => {
    const config = configOf({ 'sluice.dev/segment': 'country=wakanda', 'sluice.dev/sticky': 'x-user' });
    const release = new Release(config).started().check();
    expect(release.actions).toContainEqual({
      type: 'setRoute',
      route: { weight: 20, match: [], segment: [{ header: 'country', exact: 'wakanda' }], sticky: 'x-user' },
    });
  });

  it('restarts the release for a new candidate, resetting weight and failed checks', () => {
    const release = new Release()
      .started()
      .check(canaryWith({ successRate: 50 }))
      .check();
    expect(release.status).toMatchObject({ canaryWeight: 20, failedChecks: 1 });

    release.set({ candidateRevision: 'ccc', canaryReady: false }).tick();
    expect(release.status).toMatchObject({
      phase: 'Progressing',
      candidateRevision: 'ccc',
      canaryWeight: 0,
      failedChecks: 0,
    });
    expect(release.types()).toEqual(['setRoute', 'createCanary', 'event']);
    expect(release.routeWeight()).toBeNull();
    expect(release.events()).toEqual([
      'CanaryStarted: New revision ccc replaces bbb: starting canary analysis',
    ]);
  });

  it('ends the release as Reverted when the Deployment is changed back to the stable revision', () => {
    const release = new Release().started();
    release.set({ candidateRevision: null }).tick();
    expect(release.status).toMatchObject({ phase: 'Initialized', canaryWeight: 0, candidateRevision: null });
    expect(release.types()).toEqual(['setRoute', 'deleteCanary', 'event']);
    expect(release.events()).toEqual([
      'Reverted: Release of revision bbb ended: the Deployment was changed back to stable revision aaa',
    ]);
    expect(release.status.outcome).toMatchObject({ reason: 'Reverted', revision: 'bbb' });
  });

  it('carries on promoting when the promotion was written but its step not recorded', () => {
    // The step that wrote the promotion failed on a late answer (the write had been applied): its status,
    // Progressing, was not recorded, and the next step sees the primary at the candidate already.
    const release = new Release().started();
    const beforePromotion = release.status;
    release.tick({ action: 'promote' });
    expect(release.types()).toContain('promote');
    release.status = beforePromotion;
    release.set({ stableRevision: 'bbb', candidateRevision: null, primaryReady: false }).tick();
    expect(release.status).toMatchObject({
      phase: 'Promoting',
      candidateRevision: 'bbb',
      stableRevision: 'bbb',
    });
    expect(release.status.outcome).toBeNull();
    expect(release.events()).toEqual([
      'Promoting: Revision bbb was copied to the primary by a step not recorded',
    ]);

    release.set({ primaryReady: true }).tick().tick();
    expect(release.status.phase).toBe('Succeeded');
    expect(release.status.outcome).toMatchObject({ reason: 'Promoted', revision: 'bbb' });
  });

  it('ends the release as Reverted when the stable revision comes back after a rollback', () => {
    const release = new Release().started();
    release.tick({ action: 'abort' });
    expect(release.status.phase).toBe('Failed');
    release.set({ candidateRevision: null }).tick();
    expect(release.status.phase).toBe('Failed');
    expect(release.actions).toEqual([]);
  });

  it('cancels the release when the Deployment opts out', () => {
    const release = new Release().started();
    release.config = configOf({ 'sluice.dev/canary': 'disabled' });
    expect(release.tick().status.phase).toBe('Initialized');
  });

  it('does not start a rolled-back candidate again when it is re-applied, but starts a new one', () => {
    const release = new Release(configOf({ 'sluice.dev/threshold': '1' })).started();
    release.check(canaryWith({ successRate: 10 }));
    expect(release.status.phase).toBe('Failed');
    release.now += MINUTE;
    expect(release.tick().actions).toEqual([]);
    expect(release.status.phase).toBe('Failed');

    release.set({ candidateRevision: 'ccc', canaryReady: false }).tick();
    expect(release.status).toMatchObject({
      phase: 'Progressing',
      candidateRevision: 'ccc',
      failedRevision: null,
    });
  });

  it('starts a rolled-back candidate again on retry', () => {
    const release = new Release(configOf({ 'sluice.dev/threshold': '1' })).started();
    release.check(canaryWith({ successRate: 10 }));
    release.tick({ action: 'retry' });
    expect(release.status).toMatchObject({ phase: 'Progressing', candidateRevision: 'bbb', failedChecks: 0 });
    expect(release.types()).toEqual(['clearAction', 'createCanary', 'event']);
  });

  it('promotes a rolled-back candidate on promote', () => {
    const release = new Release(configOf({ 'sluice.dev/threshold': '1' })).started();
    release.check(canaryWith({ successRate: 10 }));
    release.tick({ action: 'promote' });
    expect(release.status.phase).toBe('Promoting');
    expect(release.actions).toContainEqual({ type: 'promote', revision: 'bbb' });
  });

  it('promotes at once on promote during analysis', () => {
    const release = new Release().started().tick({ action: 'promote' });
    expect(release.status).toMatchObject({ phase: 'Promoting', canaryWeight: 10 });
    expect(release.types()).toEqual(['clearAction', 'promote', 'event']);
  });

  it('rolls back on abort', () => {
    const release = new Release().started().check().tick({ action: 'abort' });
    expect(release.status).toMatchObject({ phase: 'Failed', canaryWeight: 0 });
    expect(release.events()).toEqual(['RolledBack: Rolling back revision bbb: aborted by sluice abort']);
  });

  it('holds weight and checks while paused, without counting the pause against the deadline', () => {
    const release = new Release(configOf({ 'sluice.dev/progress-deadline': '10m' })).started().check();
    release.tick({ action: 'pause' });
    expect(release.status).toMatchObject({ phase: 'Paused', canaryWeight: 20 });
    expect(release.reasons()).toEqual(['Paused']);

    for (let i = 0; i < 20; i++) release.check();
    expect(release.status).toMatchObject({ phase: 'Paused', canaryWeight: 20 });

    release.tick({ action: 'resume' });
    expect(release.status.phase).toBe('Progressing');
    expect(release.reasons()).toEqual(['Resumed']);
    expect(release.check().status.canaryWeight).toBe(30);
  });

  it('consumes every action and explains one it cannot apply', () => {
    const release = new Release().tick({ action: 'abort' });
    expect(release.actions).toEqual([
      { type: 'clearAction', action: 'abort' },
      {
        type: 'event',
        kind: 'Warning',
        reason: 'ActionIgnored',
        message: 'sluice.dev/action abort ignored: there is no held change to abort',
      },
    ]);
    release.started().tick({ action: 'resume' });
    expect(release.reasons()).toEqual(['ActionIgnored']);
  });

  it('ignores abort once the promotion is written', () => {
    const release = new Release().started().tick({ action: 'promote' }).tick({ action: 'abort' });
    expect(release.status.phase).toBe('Promoting');
    expect(release.reasons()).toEqual(['ActionIgnored']);
  });

  it('starts the next release after a success', () => {
    const release = new Release(configOf({ 'sluice.dev/skip-analysis': 'true' }));
    release.set({ candidateRevision: 'bbb' }).tick();
    release.set({ stableRevision: 'bbb', candidateRevision: null }).tick().tick();
    release.config = configOf();
    release.set({ candidateRevision: 'ccc', canaryReady: false }).tick();
    expect(release.status).toMatchObject({
      phase: 'Progressing',
      candidateRevision: 'ccc',
      stableRevision: 'bbb',
    });
  });

  it('resumes from a stored status as if it had never stopped', () => {
    const release = new Release()
      .started()
      .check()
      .check(canaryWith({ successRate: 1 }));
    const stored = JSON.parse(JSON.stringify(release.status)) as ReleaseStatus;
    const resumed = new Release();
    Object.assign(resumed, { status: stored, now: release.now, world: release.world });
    expect(resumed.check().status).toEqual(release.check().status);
    expect(resumed.actions).toEqual(release.actions);
  });

  it('records when each phase began', () => {
    const release = new Release().started();
    expect(release.status.lastTransitionTime).toBe(new Date(T0).toISOString());
    release.check().check().check().check().check();
    expect(release.status.lastTransitionTime).toBe(new Date(release.now).toISOString());
  });

  it('asks the provider for the quantiles the objectives name', () => {
    expect(
      quantilesOf(configOf({ 'sluice.dev/objectives': 'p50-latency<1s,success-rate>90,p99.9-latency<2s' })),
    ).toEqual([0.5, 0.999]);
  });
});

describe('the mirror phase', () => {
  const mirrorConfig = (more: Record<string, string> = {}) =>
    configOf({ 'sluice.dev/mirror': '50', 'sluice.dev/mirror-checks': '2', ...more });

  it('mirrors before any user request is routed, then steps the weight after the mirror checks', () => {
    const release = new Release(mirrorConfig()).started();
    expect(release.status).toMatchObject({ phase: 'Mirroring', canaryWeight: 0, mirrorChecks: 0 });
    expect(release.actions[0]).toEqual({
      type: 'setRoute',
      route: { weight: 0, match: [], segment: [], sticky: null, mirror: 50 },
    });
    expect(release.events()).toEqual([
      "CanaryReady: Canary ready: mirroring 50% of the primaries' GET, HEAD and OPTIONS requests to it, " +
        'answers discarded; users are routed to it after 2 passing checks',
    ]);
    expect(nextCheckAt(release.status, release.config)).toBe(release.now + MINUTE);

    release.check();
    expect(release.status).toMatchObject({ phase: 'Mirroring', canaryWeight: 0, mirrorChecks: 1 });
    expect(release.types()).toEqual(['event']);
    expect(release.events()).toEqual([
      'CheckPassed: Mirror check 1/2 passed: mirrored requests: success rate 100% >= 99%, p99 latency 80ms <= 500ms',
    ]);
    expect(release.status.lastAnalysis).toMatchObject({ result: 'passed', weight: 0 });

    release.check();
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 10, mirrorChecks: 2 });
    expect(release.actions).toContainEqual({
      type: 'setRoute',
      route: { weight: 10, match: [], segment: [], sticky: null },
    });
    expect(release.reasons()).toEqual(['WeightIncreased']);

    release.check();
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 20 });
  });

  it('does not count an inconclusive mirror check, and rolls back on failed ones', () => {
    const release = new Release(mirrorConfig({ 'sluice.dev/threshold': '2' })).started();
    release.check(canaryWith({ requests: 3 }));
    expect(release.status).toMatchObject({ phase: 'Mirroring', mirrorChecks: 0, failedChecks: 0 });
    expect(release.reasons()).toEqual(['CheckInconclusive']);

    release.check(canaryWith({ successRate: 90, errorRate: 10 }));
    expect(release.status).toMatchObject({ phase: 'Mirroring', failedChecks: 1 });
    expect(release.events()[0]).toContain('Halt advancement: mirrored requests: success rate 90%');
    release.check(canaryWith({ successRate: 90, errorRate: 10 }));
    expect(release.status).toMatchObject({ phase: 'Failed', canaryWeight: 0 });
    expect(release.types()).toEqual(['setRoute', 'deleteCanary', 'markFailed', 'event']);
    expect(release.routeWeight()).toBeNull();
  });

  it('comes back to mirroring after a pause, and to the steps once the mirror checks passed', () => {
    const release = new Release(mirrorConfig()).started();
    release.tick({ action: 'pause' });
    expect(release.status.phase).toBe('Paused');
    expect(nextCheckAt(release.status, release.config)).toBeNull();
    release.now += MINUTE;
    release.tick({ action: 'resume' });
    expect(release.status.phase).toBe('Mirroring');

    release.check().check().tick({ action: 'pause' });
    release.tick({ action: 'resume' });
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 10 });
  });

  it('in A/B mode routes the matches once the mirror checks pass, and sends them to the canary meanwhile', () => {
    const release = new Release(
      mirrorConfig({ 'sluice.dev/iterations': '1', 'sluice.dev/match': 'traffic=test' }),
    ).started();
    const match = [{ header: 'traffic', exact: 'test' }];
    expect(release.actions[0]).toEqual({
      type: 'setRoute',
      route: { weight: 0, match, segment: [], sticky: null, mirror: 50 },
    });
    release.check().check();
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 0, iterations: 0 });
    expect(release.actions).toContainEqual({
      type: 'setRoute',
      route: { weight: 0, match, segment: [], sticky: null },
    });
    expect(release.events()[0]).toMatch(
      /^CheckPassed: Routing traffic=test to the canary, weight 0 \(2 mirror/,
    );
    release.check();
    expect(release.status.phase).toBe('Promoting');
  });

  it('sizes the canary for the mirror share while mirroring, paused or not, then for its weight', () => {
    const release = new Release(mirrorConfig()).started();
    expect(canaryShare(release.status, release.config)).toBe(50);
    release.tick({ action: 'pause' });
    expect(canaryShare(release.status, release.config)).toBe(50);
    release.tick({ action: 'resume' }).check().check();
    expect(release.status.canaryWeight).toBe(10);
    expect(canaryShare(release.status, release.config)).toBe(10);
    expect(canaryShare(release.status, configOf())).toBe(10);
  });

  it('starts the mirror phase again for a new candidate', () => {
    const release = new Release(mirrorConfig()).started();
    release.check().check();
    expect(release.status.phase).toBe('Progressing');
    release.set({ candidateRevision: 'ccc', canaryReady: false }).tick();
    expect(release.status).toMatchObject({ phase: 'Progressing', mirrorChecks: 0, routedAt: null });
    release.set({ canaryReady: true }).tick();
    expect(release.status).toMatchObject({ phase: 'Mirroring', candidateRevision: 'ccc' });
  });
});
