import type { CanaryConfig } from '../annotations.js';
import { formatDuration } from '../duration.js';
import { formatMatch } from '../match.js';
import { runCheck } from './check.js';
import { type AskedGateType, describeAnswer, type GateAnswer, type Verdict, verdict } from './gates.js';
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
  return { status: release.status, actions: release.actions, asks: release.asks };
}

/**
 * When the next check is due, for the driver's timer; null when no check is pending. While a gate holds
 * the release (Waiting, or the first route waiting for pre-rollout), it is when the gates are asked again.
 */
export function nextCheckAt(status: ReleaseStatus, config: CanaryConfig): number | null {
  if (!CHECKING.has(status.phase) || status.lastCheckAt === null) return null;
  return Date.parse(status.lastCheckAt) + config.intervalMs;
}

const CHECKING: ReadonlySet<ReleaseStatus['phase']> = new Set([
  'Waiting',
  'Mirroring',
  'Progressing',
  'WaitingPromotion',
]);

/**
 * The share of the primaries' requests the canary serves now, in percent, for sizing it: its weight, or
 * in the mirror phase (paused in it too) the mirror share, since copies load it as routed requests do.
 */
export function canaryShare(status: ReleaseStatus, config: CanaryConfig): number {
  const mirroring = config.mirror !== null && status.mirrorChecks < config.mirrorChecks;
  return mirroring ? Math.max(status.canaryWeight, config.mirror) : status.canaryWeight;
}

/** The latency quantiles the objectives need from the provider. */
export function quantilesOf(config: CanaryConfig): number[] {
  return config.objectives.flatMap((o) => (o.quantile === null ? [] : [o.quantile]));
}

const CANARY_READY = 'canary ready';

/** Intervals a canary has to become ready before it is rolled back (DESIGN.md, "Roll back"). */
export const START_INTERVALS = 2;

class Release {
  readonly actions: ReleaseAction[] = [];
  readonly asks: AskedGateType[] = [];
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
      case 'Waiting':
      case 'Mirroring':
      case 'Progressing':
      case 'WaitingPromotion':
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
    this.start(`New revision ${candidate} detected (stable ${this.status.stableRevision ?? 'none'})`);
  }

  /** After begin(): the canary starts once the confirm-rollout gates let it (Flagger's manual approval). */
  private start(why: string): void {
    const confirm = this.gate('confirm-rollout');
    if (confirm.state === 'unasked') return;
    if (confirm.state === 'closed') return this.waitForApproval(confirm.answer);
    if (this.config.skipAnalysis) return this.promote('sluice.dev/skip-analysis is true');
    this.startCanary(why);
  }

  private waitForApproval(answer: GateAnswer): void {
    const candidate = this.status.candidateRevision as string;
    this.transition('Waiting');
    this.update({ lastCheckAt: this.nowIso });
    this.event(
      'Warning',
      'WaitingForApproval',
      `Halt advancement of revision ${candidate}: waiting for approval (${describeAnswer(answer)})`,
    );
  }

  /** Phase Waiting: the confirm-rollout gates (and rollback gates) are asked again each interval. */
  private waiting(): void {
    const due = nextCheckAt(this.status, this.config);
    if (due === null || this.now < due) return;
    const rollback = this.gate('rollback');
    const confirm = this.gate('confirm-rollout');
    if (rollback.state === 'unasked' || confirm.state === 'unasked') return;
    if (rollback.state === 'open') return this.rollBack(rollbackReason(rollback));
    if (confirm.state === 'closed') return this.update({ lastCheckAt: this.nowIso });
    const candidate = this.status.candidateRevision as string;
    // The progress deadline counts from the approval: time spent waiting for a person is not progress.
    this.update({ startedAt: this.nowIso, lastCheckAt: null });
    this.event('Normal', 'Approved', `Revision ${candidate} approved by the confirm-rollout gates`);
    if (this.config.skipAnalysis) return this.promote('sluice.dev/skip-analysis is true');
    this.startCanary(`Revision ${candidate} approved`);
  }

  /** The answer of the gates of one type, or, when they have not been called yet, a request to call them. */
  private gate(type: AskedGateType): Verdict {
    const answer = verdict(type, this.config.gates, this.seen.gates);
    if (answer.state === 'unasked' && !this.asks.includes(type)) this.asks.push(type);
    return answer;
  }

  private begin(candidate: string): void {
    this.update({
      candidateRevision: candidate,
      failedRevision: null,
      canaryWeight: 0,
      failedChecks: 0,
      iterations: 0,
      mirrorChecks: 0,
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
      const hadCanary = this.status.phase !== 'Waiting';
      this.emit({ type: 'setRoute', route: null });
      this.begin(candidate);
      if (action !== null) this.ignore(`a new revision restarts the release`);
      // An approval was for the revision replaced: the new one is asked for again.
      if (hadCanary && this.config.gates.some((g) => g.type === 'confirm-rollout')) {
        this.emit({ type: 'deleteCanary' });
      }
      return this.start(`New revision ${candidate} replaces ${replaced}`);
    }
    switch (action) {
      case 'abort':
        return this.rollBack('aborted by sluice abort');
      case 'promote':
        return this.promote('promoted by sluice promote, skipping the remaining analysis');
      case 'pause':
        if (this.status.phase === 'Paused') return this.ignore('the release is paused already');
        if (this.status.phase === 'Waiting') return this.ignore('the release is waiting for approval');
        this.update({ pausedMs: this.status.pausedMs + this.waitingMs() });
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
    if (this.status.phase === 'Waiting') return this.waiting();

    const elapsed =
      this.now - Date.parse(this.status.startedAt ?? this.nowIso) - this.status.pausedMs - this.waitingMs();
    if (elapsed > this.config.progressDeadlineMs) {
      return this.rollBack(`progress deadline ${formatDuration(this.config.progressDeadlineMs)} exceeded`);
    }
    if (this.config.skipAnalysis) return this.promote('sluice.dev/skip-analysis is true');
    if (this.status.routedAt === null) {
      if (this.seen.canaryReady) return this.beforeTraffic();
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
    this.transition(this.mirroring ? 'Mirroring' : 'Progressing');
    this.update({
      pausedAt: null,
      pausedMs: this.status.pausedMs + pausedMs,
      lastCheckAt: this.status.routedAt === null ? null : this.nowIso,
    });
    this.event('Normal', 'Resumed', `Resumed at weight ${this.status.canaryWeight}`);
  }

  /** How long a confirm-promotion gate has held the release so far; 0 outside WaitingPromotion. */
  private waitingMs(): number {
    if (this.status.phase !== 'WaitingPromotion' || this.status.pausedAt === null) return 0;
    return this.now - Date.parse(this.status.pausedAt);
  }

  private get abMode(): boolean {
    return this.config.iterations !== null;
  }

  /** Routed, with mirror checks still to pass: only copies of the primaries' requests reach the canary. */
  private get mirroring(): boolean {
    const { mirror, mirrorChecks } = this.config;
    return mirror !== null && this.status.routedAt !== null && this.status.mirrorChecks < mirrorChecks;
  }

  /**
   * The canary is ready: the pre-rollout gates must pass (a refusal is a failed check, asked again each
   * interval) and the confirm-traffic-increase gates let the first weight through, before any request is
   * routed to it.
   */
  private beforeTraffic(): void {
    const due = nextCheckAt(this.status, this.config);
    if (due !== null && this.now < due) return;
    const rollback = this.gate('rollback');
    const pre = this.gate('pre-rollout');
    if (rollback.state === 'unasked' || pre.state === 'unasked') return;
    if (rollback.state === 'open') return this.rollBack(rollbackReason(rollback));
    if (pre.state === 'closed') {
      this.update({ lastCheckAt: this.nowIso });
      return this.failCheck(describeAnswer(pre.answer));
    }
    if (!this.abMode && !this.trafficIncreaseConfirmed(0)) {
      return this.update({ lastCheckAt: this.nowIso });
    }
    this.publish();
  }

  /** False when a confirm-traffic-increase gate holds the weight (said in an Event) or is still to be asked. */
  private trafficIncreaseConfirmed(weight: number): boolean {
    const confirm = this.gate('confirm-traffic-increase');
    if (confirm.state === 'closed') {
      this.event(
        'Warning',
        'WaitingForApproval',
        `Halt advancement at weight ${weight}: waiting for approval to increase traffic (${describeAnswer(confirm.answer)})`,
      );
    }
    return confirm.state === 'open';
  }

  private publish(): void {
    this.update({ routedAt: this.nowIso, lastCheckAt: this.nowIso });
    if (this.mirroring) return this.startMirror();
    this.routeUsers(CANARY_READY);
  }

  /**
   * The mirror phase: the canary takes copies of a share of the primaries' idempotent requests and none
   * of the users' (test-header matches aside), and checks measure the copies (docs/canary.md).
   */
  private startMirror(): void {
    const mirror = this.config.mirror ?? 0;
    this.transition('Mirroring');
    this.emit({ type: 'setRoute', route: { ...this.route(0), mirror } });
    this.event(
      'Normal',
      'CanaryReady',
      `Canary ready: mirroring ${mirror}% of the primaries' GET, HEAD and OPTIONS requests to it, ` +
        `answers discarded; users are routed to it after ${this.config.mirrorChecks} passing checks`,
    );
  }

  /** The first route that sends users' requests to the canary: A/B matches, or the first weight. */
  private routeUsers(why: string): void {
    if (this.abMode) {
      this.emit({ type: 'setRoute', route: this.route(0) });
      const matches = this.config.match.map(formatMatch).join(', ');
      const promotion = `promotion after ${this.config.iterations} passing checks`;
      return why === CANARY_READY
        ? this.event(
            'Normal',
            'CanaryReady',
            `Canary ready: routing ${matches} to it, weight 0; ${promotion}`,
          )
        : this.event(
            'Normal',
            'CheckPassed',
            `Routing ${matches} to the canary, weight 0 (${why}); ${promotion}`,
          );
    }
    this.setWeight(this.config.weights[0] ?? this.config.maxWeight, why);
  }

  private check(): void {
    const measurement = this.seen.measurement;
    if (measurement === null) return;
    // Flagger's order: a rollback gate first, then the rollout gates, then the metrics.
    const rollback = this.gate('rollback');
    const rollout = this.gate('rollout');
    if (rollback.state === 'unasked' || rollout.state === 'unasked') return;
    if (rollback.state === 'open') return this.rollBack(rollbackReason(rollback));
    if (rollout.state === 'closed') {
      this.update({ lastCheckAt: this.nowIso });
      return this.failCheck(describeAnswer(rollout.answer));
    }
    const mirrored = this.status.phase === 'Mirroring';
    const result = runCheck(measurement, this.config.objectives, this.config.minRequests);
    const check = mirrored ? { ...result, summary: `mirrored requests: ${result.summary}` } : result;
    const analysis = { ...check, at: this.nowIso, weight: this.status.canaryWeight };
    this.update({
      lastCheckAt: this.nowIso,
      lastAnalysis: analysis,
      checkHistory: withCheck(this.status.checkHistory, analysis),
    });
    switch (check.result) {
      case 'inconclusive':
        return this.event('Normal', 'CheckInconclusive', `Check inconclusive: ${check.summary}`);
      case 'failed':
        return this.failCheck(check.summary);
      case 'passed':
        return mirrored ? this.mirrorPassed(check.summary) : this.advance(check.summary);
    }
  }

  private mirrorPassed(summary: string): void {
    const mirrorChecks = this.status.mirrorChecks + 1;
    const target = this.config.mirrorChecks;
    this.update({ mirrorChecks });
    if (mirrorChecks < target) {
      return this.event('Normal', 'CheckPassed', `Mirror check ${mirrorChecks}/${target} passed: ${summary}`);
    }
    this.transition('Progressing');
    this.routeUsers(`${mirrorChecks} mirror checks passed: ${summary}`);
  }

  private failCheck(summary: string): void {
    const failedChecks = this.status.failedChecks + 1;
    this.update({ failedChecks });
    if (failedChecks >= this.config.threshold) {
      return this.rollBack(
        `${failedChecks} failed checks (threshold ${this.config.threshold}); last: ${summary}`,
      );
    }
    this.event(
      'Warning',
      'CheckFailed',
      `Halt advancement: ${summary} (failed checks ${failedChecks}/${this.config.threshold})`,
    );
  }

  private advance(summary: string): void {
    if (this.abMode) {
      const target = this.config.iterations ?? 0;
      const iterations = Math.min(this.status.iterations + 1, target);
      this.update({ iterations });
      if (iterations >= target) return this.confirmedPromote(`${iterations} passing checks: ${summary}`);
      return this.event(
        'Normal',
        'CheckPassed',
        `Advance canary iteration ${iterations}/${target}: ${summary}`,
      );
    }
    const current = this.status.canaryWeight;
    if (current >= this.config.maxWeight) {
      return this.confirmedPromote(`checks pass at weight ${current}: ${summary}`);
    }
    if (!this.trafficIncreaseConfirmed(current)) return;
    const next = this.config.weights.find((w) => w > current) ?? this.config.maxWeight;
    this.setWeight(next, summary);
  }

  /** Promotes once the confirm-promotion gates let it; until then phase WaitingPromotion, checks going on. */
  private confirmedPromote(why: string): void {
    const confirm = this.gate('confirm-promotion');
    if (confirm.state === 'unasked') return;
    if (confirm.state === 'open') return this.promote(why);
    if (this.status.phase === 'WaitingPromotion') return;
    this.transition('WaitingPromotion');
    // Like a pause, time spent waiting for a person does not count against the progress deadline.
    this.update({ pausedAt: this.nowIso });
    this.event(
      'Warning',
      'WaitingForApproval',
      `Halt promotion of revision ${this.status.candidateRevision ?? 'none'}: waiting for approval (${describeAnswer(confirm.answer)}); checks go on`,
    );
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
    this.postRollout('Succeeded');
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
    this.postRollout('Failed');
  }

  private postRollout(phase: 'Succeeded' | 'Failed'): void {
    if (this.config.gates.some((g) => g.type === 'post-rollout')) this.emit({ type: 'postRollout', phase });
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

function rollbackReason(signal: Verdict): string {
  const by = signal.state === 'open' && signal.answer !== undefined ? ` ${signal.answer.url}` : '';
  return `the rollback gate${by} answered 2xx`;
}
