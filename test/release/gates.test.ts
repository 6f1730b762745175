import { describe, expect, it } from 'vitest';
import { type CanaryConfig, parseCanaryAnnotations } from '../../src/annotations.js';
import type { GateType } from '../../src/gates.js';
import type { Measurement } from '../../src/release/check.js';
import type { GateAnswer } from '../../src/release/gates.js';
import { step } from '../../src/release/machine.js';
import {
  initialStatus,
  type Observations,
  type ReleaseAction,
  type ReleaseStatus,
} from '../../src/release/status.js';
import { canaryWith, healthy } from '../support/measurements.js';

const T0 = Date.parse('2026-12-07T08:00:00Z');
const INTERVAL = 60_000;
const GATE = 'http://gate.test';

const configOf = (webhooks: string, annotations: Record<string, string> = {}): CanaryConfig => {
  const result = parseCanaryAnnotations({
    'sluice.dev/canary': 'enabled',
    'sluice.dev/step-weights': '10,20',
    'sluice.dev/threshold': '2',
    'sluice.dev/webhooks': webhooks,
    ...annotations,
  });
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.config;
};

/**
 * A release driven as the runner drives it: each tick steps, and while the step asks for gates, answers
 * them from `open` (a gate type absent from it refuses) and steps again. `asked` records the calls.
 */
class GatedRelease {
  now = T0;
  status: ReleaseStatus = { ...initialStatus(T0), stableRevision: 'aaa' };
  world: Omit<Observations, 'measurement' | 'action' | 'gates'> = {
    stableRevision: 'aaa',
    candidateRevision: 'bbb',
    canaryReady: false,
    primaryReady: true,
    canaryProblem: null,
  };
  open = new Set<GateType>();
  asked: GateType[] = [];
  actions: readonly ReleaseAction[] = [];

  constructor(readonly config: CanaryConfig) {}

  tick(seen: Partial<Observations> = {}): this {
    this.asked = [];
    const gates: GateAnswer[] = [];
    for (;;) {
      const next = step(
        this.status,
        { measurement: null, action: null, ...this.world, ...seen, gates },
        this.config,
        this.now,
      );
      if (next.asks.length === 0) {
        this.status = next.status;
        this.actions = next.actions;
        return this;
      }
      for (const gate of this.config.gates.filter((g) => next.asks.includes(g.type as never))) {
        this.asked.push(gate.type);
        const ok = this.open.has(gate.type);
        gates.push({ type: gate.type, url: gate.url, ok, detail: ok ? 'HTTP 200' : 'HTTP 403: Forbidden' });
      }
    }
  }

  /** One interval later, with a measurement, as the timer ticks for a check. */
  check(measurement: Measurement = healthy): this {
    this.now += INTERVAL;
    return this.tick({ measurement });
  }

  later(ms = INTERVAL): this {
    this.now += ms;
    return this.tick();
  }

  allow(...types: GateType[]): this {
    for (const t of types) this.open.add(t);
    return this;
  }

  deny(...types: GateType[]): this {
    for (const t of types) this.open.delete(t);
    return this;
  }

  ready(): this {
    this.world = { ...this.world, canaryReady: true };
    return this.tick();
  }

  events(): string[] {
    return this.actions.flatMap((a) => (a.type === 'event' ? [`${a.reason}: ${a.message}`] : []));
  }

  types(): string[] {
    return this.actions.map((a) => a.type);
  }
}

describe('gates in the release state machine', () => {
  it('asks for no gate when none is configured', () => {
    const release = new GatedRelease(configOf('')).tick();
    expect(release.asked).toEqual([]);
    expect(release.status.phase).toBe('Progressing');
  });

  it('holds a new revision in Waiting until confirm-rollout opens, creating no canary before', () => {
    const release = new GatedRelease(configOf(`confirm-rollout=${GATE}/gate/check`)).tick();
    expect(release.asked).toEqual(['confirm-rollout']);
    expect(release.status).toMatchObject({ phase: 'Waiting', candidateRevision: 'bbb', failedChecks: 0 });
    expect(release.types()).not.toContain('createCanary');
    expect(release.events()).toEqual([
      `WaitingForApproval: Halt advancement of revision bbb: waiting for approval (confirm-rollout gate ${GATE}/gate/check answered HTTP 403: Forbidden)`,
    ]);

    release.later(INTERVAL / 2);
    expect(release.asked).toEqual([]);
    release.later(INTERVAL / 2);
    expect(release.asked).toEqual(['confirm-rollout']);
    expect(release.status.phase).toBe('Waiting');
    expect(release.actions).toEqual([]);

    release.allow('confirm-rollout').later();
    expect(release.status).toMatchObject({
      phase: 'Progressing',
      failedChecks: 0,
      startedAt: new Date(release.now).toISOString(),
    });
    expect(release.types()).toContain('createCanary');
    expect(release.events()[0]).toBe('Approved: Revision bbb approved by the confirm-rollout gates');
  });

  it('counts a refused pre-rollout as a failed check, before any traffic, and rolls back at the threshold', () => {
    const release = new GatedRelease(configOf(`pre-rollout=${GATE}/smoke`)).tick().ready();
    expect(release.asked).toEqual(['pre-rollout']);
    expect(release.status).toMatchObject({ phase: 'Progressing', failedChecks: 1, routedAt: null });
    expect(release.types()).not.toContain('setRoute');
    expect(release.events()[0]).toMatch(
      /^CheckFailed: Halt advancement: pre-rollout gate .* \(failed checks 1\/2\)$/,
    );

    release.later(INTERVAL / 2);
    expect(release.asked).toEqual([]);
    release.later(INTERVAL / 2);
    expect(release.status.phase).toBe('Failed');
    expect(release.events().at(-1)).toMatch(
      /^RolledBack: .*2 failed checks \(threshold 2\); last: pre-rollout gate/,
    );
  });

  it('routes the first weight once pre-rollout passes', () => {
    const release = new GatedRelease(configOf(`pre-rollout=${GATE}/smoke`))
      .allow('pre-rollout')
      .tick()
      .ready();
    expect(release.status).toMatchObject({ canaryWeight: 10, failedChecks: 0 });
  });

  it('holds each weight increase until confirm-traffic-increase opens, without failing a check', () => {
    const release = new GatedRelease(configOf(`confirm-traffic-increase=${GATE}/gate/check`)).tick().ready();
    expect(release.asked).toEqual(['confirm-traffic-increase']);
    expect(release.status).toMatchObject({ canaryWeight: 0, routedAt: null, failedChecks: 0 });
    expect(release.events()[0]).toMatch(
      /^WaitingForApproval: Halt advancement at weight 0: waiting for approval to increase traffic/,
    );

    release.allow('confirm-traffic-increase').later();
    expect(release.status.canaryWeight).toBe(10);

    release.deny('confirm-traffic-increase').check();
    expect(release.status).toMatchObject({ phase: 'Progressing', canaryWeight: 10, failedChecks: 0 });
    release.allow('confirm-traffic-increase').check();
    expect(release.status.canaryWeight).toBe(20);
  });

  it('does not ask confirm-traffic-increase after a failed check', () => {
    const release = new GatedRelease(configOf(`confirm-traffic-increase=${GATE}/gate/check`))
      .allow('confirm-traffic-increase')
      .tick()
      .ready();
    release.check(canaryWith({ successRate: 50 }));
    expect(release.asked).toEqual([]);
    expect(release.status.failedChecks).toBe(1);
  });

  it('counts a refused rollout gate as a failed check, before the metrics', () => {
    const release = new GatedRelease(configOf(`rollout=${GATE}/load`)).tick().ready();
    expect(release.asked).toEqual([]);
    release.check();
    expect(release.asked).toEqual(['rollout']);
    expect(release.status).toMatchObject({ canaryWeight: 10, failedChecks: 1, lastAnalysis: null });
    release.allow('rollout').check();
    expect(release.status).toMatchObject({ canaryWeight: 20, failedChecks: 1 });
  });

  it('waits in WaitingPromotion while checks go on, then promotes once confirm-promotion opens', () => {
    const release = new GatedRelease(configOf(`confirm-promotion=${GATE}/gate/check`)).tick().ready();
    release.check();
    expect(release.asked).toEqual([]);
    release.check();
    expect(release.asked).toEqual(['confirm-promotion']);
    expect(release.status).toMatchObject({ phase: 'WaitingPromotion', canaryWeight: 20, failedChecks: 0 });
    expect(release.events()[0]).toMatch(
      /^WaitingForApproval: Halt promotion of revision bbb: waiting for approval/,
    );

    release.check(canaryWith({ successRate: 50 }));
    expect(release.status).toMatchObject({ phase: 'WaitingPromotion', failedChecks: 1 });
    expect(release.asked).toEqual([]);

    release.check();
    expect(release.events()).toEqual([]);
    release.allow('confirm-promotion').check();
    expect(release.status.phase).toBe('Promoting');
    expect(release.types()).toContain('promote');
  });

  it('does not count time in WaitingPromotion against the progress deadline', () => {
    const release = new GatedRelease(
      configOf(`confirm-promotion=${GATE}/gate/check`, { 'sluice.dev/progress-deadline': '5m' }),
    )
      .tick()
      .ready()
      .check()
      .check();
    expect(release.status.phase).toBe('WaitingPromotion');
    for (let i = 0; i < 10; i++) release.check();
    expect(release.status.phase).toBe('WaitingPromotion');
    release.allow('confirm-promotion').check();
    expect(release.status.phase).toBe('Promoting');
  });

  it('rolls back when a rollback gate answers 2xx, in Waiting or at a check', () => {
    const waiting = new GatedRelease(
      configOf(`confirm-rollout=${GATE}/gate/check,rollback=${GATE}/rollback/check`),
    ).tick();
    expect(waiting.asked).toEqual(['confirm-rollout']);
    waiting.allow('rollback').later();
    expect(waiting.asked.sort()).toEqual(['confirm-rollout', 'rollback']);
    expect(waiting.status).toMatchObject({ phase: 'Failed', failedRevision: 'bbb' });
    expect(waiting.events()).toEqual([
      `RolledBack: Rolling back revision bbb: the rollback gate ${GATE}/rollback/check answered 2xx`,
    ]);

    const running = new GatedRelease(configOf(`rollback=${GATE}/rollback/check`)).tick().ready();
    running.check();
    expect(running.status.canaryWeight).toBe(20);
    running.allow('rollback').check();
    expect(running.status.phase).toBe('Failed');
    expect(running.types()).toEqual(['setRoute', 'deleteCanary', 'markFailed', 'event']);
  });

  it('has post-rollout called after promotion and after rollback', () => {
    const promoted = new GatedRelease(
      configOf(`post-rollout=${GATE}/notify`, { 'sluice.dev/skip-analysis': 'true' }),
    ).tick();
    expect(promoted.status.phase).toBe('Promoting');
    promoted.world = { ...promoted.world, stableRevision: 'bbb', candidateRevision: null };
    promoted.tick().tick();
    expect(promoted.status.phase).toBe('Succeeded');
    expect(promoted.actions.at(-1)).toEqual({ type: 'postRollout', phase: 'Succeeded' });

    const failed = new GatedRelease(configOf(`post-rollout=${GATE}/notify`)).tick().ready();
    failed.tick({ action: 'abort' });
    expect(failed.actions.at(-1)).toEqual({ type: 'postRollout', phase: 'Failed' });
  });

  it('asks confirm-rollout again for a revision that replaces the running one', () => {
    const release = new GatedRelease(configOf(`confirm-rollout=${GATE}/gate/check`))
      .allow('confirm-rollout')
      .tick()
      .ready();
    expect(release.status.canaryWeight).toBe(10);
    release.deny('confirm-rollout');
    release.world = { ...release.world, candidateRevision: 'ccc' };
    release.tick();
    expect(release.status).toMatchObject({ phase: 'Waiting', candidateRevision: 'ccc', canaryWeight: 0 });
    expect(release.types()).toEqual(['setRoute', 'deleteCanary', 'event']);
  });

  it('lets sluice promote and abort override a waiting release', () => {
    const promoted = new GatedRelease(configOf(`confirm-rollout=${GATE}/gate/check`)).tick();
    promoted.tick({ action: 'promote' });
    expect(promoted.status.phase).toBe('Promoting');

    const aborted = new GatedRelease(configOf(`confirm-rollout=${GATE}/gate/check`)).tick();
    aborted.tick({ action: 'abort' });
    expect(aborted.status.phase).toBe('Failed');

    const paused = new GatedRelease(configOf(`confirm-rollout=${GATE}/gate/check`)).tick();
    paused.tick({ action: 'pause' });
    expect(paused.status.phase).toBe('Waiting');
    expect(paused.events()[0]).toMatch(/^ActionIgnored: .*waiting for approval/);
  });
});
