import type { CanaryConfig } from '../annotations.js';
import { formatDuration } from '../duration.js';
import { formatMatch } from '../routes/match.js';
import { runCheck } from './check.js';
import { withCheck } from './history.js';
import type {
  EventReason,
  Observations,
  Outcome,
  ReleaseAction,
  ReleaseStatus,
  Route,
  Step,
} from './status.js';

/**
 * The release state machine (DESIGN.md): one pure step from what the status says and what was observed to
 * the next status and the actions that get there. The driver carries the actions out and only then
 * stores the status, so a step whose actions failed is simply taken again from the old status.
 */
export function step(
  status: ReleaseStatus,
  observations: Observations,
  config: CanaryConfig,
  now: number,
): Step {
  const release = new Release(status, observations, config, now);
  release.run();
  return { status: release.status, actions: release.actions };
}

/** When the next check is due, for the driver's timer; null when no check is pending. */
export function nextCheckAt(status: ReleaseStatus, config: CanaryConfig): number | null {
  if (status.phase !== 'Progressing' || status.lastCheckAt === null) return null;
  return Date.parse(status.lastCheckAt) + config.intervalMs;
}

/** The latency quantiles the objectives need from the provider. */
export function quantilesOf(config: CanaryConfig): number[] {
  return config.objectives.flatMap((o) => (o.quantile === null ? [] : [o.quantile]));
}

/** Intervals a canary has to become ready before it is rolled back (DESIGN.md, "Roll back"). */
export const START_INTERVALS = 2;

class Release {
  readonly actions: ReleaseAction[] = [];
  private readonly nowIso: string;

  constructor(
    public status: ReleaseStatus,
    private readonly seen: Observations,
    private readonly config: CanaryConfig,
    private readonly now: number,
  ) {
    this.nowIso = new Date(now).toISOString();
  }

  run(): void {
    if (this.seen.stableRevision !== this.status.stableRevision) {
      this.update({ stableRevision: this.seen.stableRevision });
    }
    if (this.seen.action !== null) this.emit({ type: 'clearAction', action: this.seen.action });
    switch (this.status.phase) {
      case 'Initialized':
      case 'Succeeded':
      case 'Failed':
        return this.idle();
      case 'Progressing':
      case 'Paused':
        return this.running();
      case 'Promoting':
        return this.promoting();
      case 'Finalising':
        return this.finalising();
    }
  }

  private get candidate(): string | null {
    const { candidateRevision, stableRevision } = this.seen;
    return candidateRevision !== null && candidateRevision !== stableRevision ? candidateRevision : null;
  }

  private idle(): void {
    const candidate = this.candidate;
    const action = this.seen.action;
    if (!this.config.enabled || candidate === null) {
      if (action !== null) this.ignore(`there is no held change to ${action}`);
      return;
    }
    if (action === 'promote') {
      this.begin(candidate);
      return this.promote(`promoted by sluice promote, without analysis`);
    }
    if (candidate === this.status.failedRevision && action !== 'retry') {
      if (action !== null) this.ignore(`revision ${candidate} failed; use retry or promote`);
      return;
    }
    if (action !== null && action !== 'retry') this.ignore(`no release is running`);
    this.begin(candidate);
    if (this.config.skipAnalysis) return this.promote('sluice.dev/skip-analysis is true');
    this.startCanary(`New revision ${candidate} detected (stable ${this.status.stableRevision ?? 'none'})`);
  }

  private begin(candidate: string): void {
    this.update({
      candidateRevision: candidate,
      failedRevision: null,
      canaryWeight: 0,
      failedChecks: 0,
      iterations: 0,
      startedAt: this.nowIso,
      routedAt: null,
      lastCheckAt: null,
      pausedAt: null,
      pausedMs: 0,
      lastAnalysis: null,
      checkHistory: [],
    });
  }

  private startCanary(why: string): void {
    const candidate = this.status.candidateRevision as string;
    this.transition('Progressing');
    this.emit({ type: 'createCanary', revision: candidate });
    this.event('Normal', 'CanaryStarted', `${why}: starting canary analysis`);
  }

  private running(): void {
    const candidate = this.candidate;
    const action = this.seen.action;
    if (!this.config.enabled) return this.cancel('sluice.dev/canary is no longer enabled');
    if (candidate === null) {
      if (this.seen.stableRevision === this.status.candidateRevision) return this.promotedUnrecorded();
      return this.revert();
    }
    if (candidate !== this.status.candidateRevision) {
      const replaced = this.status.candidateRevision ?? 'none';
      this.emit({ type: 'setRoute', route: null });
      this.begin(candidate);
      if (action !== null) this.ignore(`a new revision restarts the release`);
      return this.startCanary(`New revision ${candidate} replaces ${replaced}`);
    }
    switch (action) {
      case 'abort':
        return this.rollBack('aborted by sluice abort');
      case 'promote':
        return this.promote('promoted by sluice promote, skipping the remaining analysis');
      case 'pause':
        if (this.status.phase === 'Paused') return this.ignore('the release is paused already');
        this.transition('Paused');
        this.update({ pausedAt: this.nowIso });
        return this.event('Normal', 'Paused', `Paused at weight ${this.status.canaryWeight}`);
      case 'resume':
        if (this.status.phase !== 'Paused') return this.ignore('the release is not paused');
        return this.resume();
      case 'retry':
        this.ignore('the release is running');
        break;
      case null:
        break;
    }
    if (this.status.phase === 'Paused') return;

    const elapsed = this.now - Date.parse(this.status.startedAt ?? this.nowIso) - this.status.pausedMs;
    if (elapsed > this.config.progressDeadlineMs) {
      return this.rollBack(`progress deadline ${formatDuration(this.config.progressDeadlineMs)} exceeded`);
    }
    if (this.config.skipAnalysis) return this.promote('sluice.dev/skip-analysis is true');
    if (this.status.routedAt === null) {
      if (this.seen.canaryReady) return this.publish();
      // A canary that cannot start never fails a check (it takes no traffic): without this limit it
      // would wait for the progress deadline.
      const limit = START_INTERVALS * this.config.intervalMs;
      if (elapsed >= limit) {
        const why = this.seen.canaryProblem ?? 'its pods are not ready';
        return this.rollBack(`the canary did not become ready within ${formatDuration(limit)}: ${why}`);
      }
      return;
    }
    const due = nextCheckAt(this.status, this.config);
    if (this.seen.measurement !== null && due !== null && this.now >= due) this.check();
  }

  private resume(): void {
    const pausedMs = this.now - Date.parse(this.status.pausedAt ?? this.nowIso);
    this.transition('Progressing');
    this.update({
      pausedAt: null,
      pausedMs: this.status.pausedMs + pausedMs,
      lastCheckAt: this.status.routedAt === null ? null : this.nowIso,
    });
    this.event('Normal', 'Resumed', `Resumed at weight ${this.status.canaryWeight}`);
  }

  private get abMode(): boolean {
    return this.config.iterations !== null;
  }

  private publish(): void {
    this.update({ routedAt: this.nowIso, lastCheckAt: this.nowIso });
    if (this.abMode) {
      this.emit({ type: 'setRoute', route: this.route(0) });
      const matches = this.config.match.map(formatMatch).join(', ');
      return this.event(
        'Normal',
        'CanaryReady',
        `Canary ready: routing ${matches} to it, weight 0; promotion after ${this.config.iterations} passing checks`,
      );
    }
    this.setWeight(this.config.weights[0] ?? this.config.maxWeight, 'canary ready');
  }

  private check(): void {
    const measurement = this.seen.measurement;
    if (measurement === null) return;
    const check = runCheck(measurement, this.config.objectives, this.config.minRequests);
    const analysis = { ...check, at: this.nowIso, weight: this.status.canaryWeight };
    this.update({
      lastCheckAt: this.nowIso,
      lastAnalysis: analysis,
      checkHistory: withCheck(this.status.checkHistory, analysis),
    });
    switch (check.result) {
      case 'inconclusive':
        return this.event('Normal', 'CheckInconclusive', `Check inconclusive: ${check.summary}`);
      case 'failed': {
        const failedChecks = this.status.failedChecks + 1;
        this.update({ failedChecks });
        if (failedChecks >= this.config.threshold) {
          return this.rollBack(
            `${failedChecks} failed checks (threshold ${this.config.threshold}); last: ${check.summary}`,
          );
        }
        return this.event(
          'Warning',
          'CheckFailed',
          `Halt advancement: ${check.summary} (failed checks ${failedChecks}/${this.config.threshold})`,
        );
      }
      case 'passed':
        return this.advance(check.summary);
    }
  }

  private advance(summary: string): void {
    if (this.abMode) {
      const iterations = this.status.iterations + 1;
      const target = this.config.iterations ?? 0;
      this.update({ iterations });
      if (iterations >= target) return this.promote(`${iterations} passing checks: ${summary}`);
      return this.event(
        'Normal',
        'CheckPassed',
        `Advance canary iteration ${iterations}/${target}: ${summary}`,
      );
    }
    const current = this.status.canaryWeight;
    if (current >= this.config.maxWeight) return this.promote(`checks pass at weight ${current}: ${summary}`);
    const next = this.config.weights.find((w) => w > current) ?? this.config.maxWeight;
    this.setWeight(next, summary);
  }

  private setWeight(weight: number, why: string): void {
    this.update({ canaryWeight: weight });
    this.emit({ type: 'setRoute', route: this.route(weight) });
    this.event('Normal', 'WeightIncreased', `Advance canary weight ${weight}: ${why}`);
  }

  private route(weight: number): Route {
    const { match, segment, sticky } = this.config;
    return { weight, match, segment, sticky };
  }

  private promote(why: string): void {
    const candidate = this.status.candidateRevision as string;
    this.transition('Promoting');
    this.emit({ type: 'promote', revision: candidate });
    const held =
      this.status.routedAt === null
        ? ''
        : `; the canary keeps weight ${this.status.canaryWeight} until it is ready`;
    this.event('Normal', 'Promoting', `Copying revision ${candidate} to the primary (${why})${held}`);
  }

  /**
   * The primary is at the candidate already: a step wrote the promotion, but its write was answered too late
   * (a timeout with the API server overloaded), so the step was not recorded. Not a revert: the promotion
   * carries on from where it is.
   */
  private promotedUnrecorded(): void {
    const candidate = this.status.candidateRevision ?? 'none';
    this.transition('Promoting');
    this.event(
      'Normal',
      'Promoting',
      `Revision ${candidate} was copied to the primary by a step not recorded`,
    );
    this.promoting();
  }

  private promoting(): void {
    if (this.seen.action !== null) this.ignore('the promotion is written already');
    const candidate = this.status.candidateRevision;
    if (this.seen.stableRevision !== candidate || !this.seen.primaryReady) return;
    this.transition('Finalising');
    this.update({ canaryWeight: 0 });
    this.emit({ type: 'setRoute', route: null });
    this.emit({ type: 'deleteCanary' });
    this.event('Normal', 'Promoting', `Primary ready at revision ${candidate}: routing all traffic to it`);
  }

  private finalising(): void {
    if (this.seen.action !== null) this.ignore('the promotion is written already');
    const took = this.now - Date.parse(this.status.startedAt ?? this.nowIso);
    this.transition('Succeeded');
    const message = `Promotion completed: revision ${this.status.candidateRevision ?? 'none'} is stable (took ${formatDuration(Math.round(took / 1000) * 1000)})`;
    this.ended('Promoted', message);
    this.event('Normal', 'Promoted', message);
  }

  private rollBack(why: string): void {
    const candidate = this.status.candidateRevision as string;
    this.transition('Failed');
    this.update({ canaryWeight: 0, failedRevision: candidate, pausedAt: null });
    this.emit({ type: 'setRoute', route: null });
    this.emit({ type: 'deleteCanary' });
    this.emit({ type: 'markFailed', revision: candidate });
    const message = `Rolling back revision ${candidate}: ${why}`;
    this.ended('RolledBack', message);
    this.event('Warning', 'RolledBack', message);
  }

  /** The template is back at the stable revision, by whatever client: the release ends, nothing is rolled. */
  private revert(): void {
    const candidate = this.status.candidateRevision ?? 'none';
    const stable = this.status.stableRevision ?? 'none';
    const message = `Release of revision ${candidate} ended: the Deployment was changed back to stable revision ${stable}`;
    this.end('Reverted', message);
    this.event('Normal', 'Reverted', message);
  }

  private cancel(why: string): void {
    const message = `Release of revision ${this.status.candidateRevision ?? 'none'} cancelled: ${why}`;
    this.end('Cancelled', message);
    this.event('Normal', 'CanaryCancelled', message);
  }

  private end(reason: 'Reverted' | 'Cancelled', message: string): void {
    this.ended(reason, message);
    this.transition('Initialized');
    this.update({ canaryWeight: 0, candidateRevision: null, pausedAt: null });
    this.emit({ type: 'setRoute', route: null });
    this.emit({ type: 'deleteCanary' });
  }

  private ended(reason: Outcome['reason'], message: string): void {
    const revision = this.status.candidateRevision ?? 'none';
    this.update({ outcome: { reason, revision, message, at: this.nowIso } });
  }

  private ignore(why: string): void {
    this.event('Warning', 'ActionIgnored', `sluice.dev/action ${this.seen.action ?? ''} ignored: ${why}`);
  }

  private transition(phase: ReleaseStatus['phase']): void {
    if (phase !== this.status.phase) this.update({ phase, lastTransitionTime: this.nowIso });
  }

  private update(change: Partial<ReleaseStatus>): void {
    this.status = { ...this.status, ...change };
  }

  private emit(action: ReleaseAction): void {
    this.actions.push(action);
  }

  private event(kind: 'Normal' | 'Warning', reason: EventReason, message: string): void {
    this.emit({ type: 'event', kind, reason, message });
  }
}
