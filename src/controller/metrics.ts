import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES } from '../release/status.js';
import type { CanaryStatus } from '../kube/canary-object.js';
import type { PostResult } from '../notify/notifier.js';
import { endedRelease, RELEASE_RESULTS } from '../release/outcome.js';
import type { ReleaseAction, ReleaseStatus } from '../release/status.js';

const HOUR = 3600;

/** The controller's own metrics (DESIGN.md, "Events and the controller's own metrics"). */
export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly weight = new Gauge({
    name: 'sluice_canary_weight',
    help: "Percentage of the primaries' requests routed to the canary",
    labelNames: ['namespace', 'deployment'],
    registers: [this.registry],
  });
  private readonly phase = new Gauge({
    name: 'sluice_canary_phase',
    help: 'The release phase: 1 for the current one, 0 for the others',
    labelNames: ['namespace', 'deployment', 'phase'],
    registers: [this.registry],
  });
  private readonly failedChecks = new Gauge({
    name: 'sluice_canary_failed_checks',
    help: 'Failed checks in the current release',
    labelNames: ['namespace', 'deployment'],
    registers: [this.registry],
  });
  private readonly releases = new Counter({
    name: 'sluice_canary_releases_total',
    help: 'Releases that ended, by result',
    labelNames: ['namespace', 'deployment', 'result'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'sluice_canary_duration_seconds',
    help: 'Time from the start of a release to its promotion or rollback',
    labelNames: ['result'],
    buckets: [30, 60, 120, 300, 600, 900, 1800, 3600, 7200],
    registers: [this.registry],
  });
  /**
   * Release outcomes (docs/controller.md, "Release outcome metrics"). The counter is per Deployment, as
   * the gauges above are (4 series each), so a change failure rate can be had per service; the histograms
   * are not, since their buckets would multiply by every Deployment. Unlike the gauges, `forget` keeps them:
   * opting out cancels a release in the same reconcile that forgets the Deployment, and that `aborted`
   * must still be scraped.
   */
  private readonly outcomes = new Counter({
    name: 'sluice_releases_total',
    help: 'Releases that ended, by result: promoted, rolled_back (by analysis), reverted, aborted (by a person)',
    labelNames: ['namespace', 'deployment', 'result'],
    registers: [this.registry],
  });
  private readonly releaseDuration = new Histogram({
    name: 'sluice_release_duration_seconds',
    help: 'Time from the start of a release to its end, by result',
    labelNames: ['result'],
    buckets: [60, 120, 300, 600, 900, 1800, HOUR, 2 * HOUR, 4 * HOUR, 12 * HOUR, 24 * HOUR],
    registers: [this.registry],
  });
  private readonly leadTime = new Histogram({
    name: 'sluice_release_lead_time_seconds',
    help: 'Time from a change written to the Deployment to its promotion, failed attempts and retries included',
    buckets: [300, 900, 1800, HOUR, 2 * HOUR, 4 * HOUR, 12 * HOUR, 24 * HOUR, 72 * HOUR, 168 * HOUR],
    registers: [this.registry],
  });
  private readonly notifications = new Counter({
    name: 'sluice_notifications_total',
    help: 'Release notices to chat receivers, by receiver (the Secret key) and result: sent, failed, dropped',
    labelNames: ['receiver', 'result'],
    registers: [this.registry],
  });
  /**
   * The leader looks at every release each tick and on each watch event; a rate of 0 while it leads means
   * it stopped stepping releases, a rate of failed ones says how often the API server or a check failed.
   */
  readonly reconciles = new Counter({
    name: 'sluice_controller_reconciles_total',
    help: "The leader's looks at one Deployment's release, by result: done, stopped (no longer leader), failed",
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'sluice_controller_leader',
    help: '1 while this replica holds the lease and runs the releases',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  observe(
    namespace: string,
    deployment: string,
    before: CanaryStatus,
    after: CanaryStatus,
    now: number,
  ): void {
    const labels = { namespace, deployment };
    // From the first step on, so that the first release's end is an increase Prometheus sees.
    for (const result of RELEASE_RESULTS) this.outcomes.inc({ ...labels, result }, 0);
    this.weight.set(labels, after.canaryWeight);
    this.failedChecks.set(labels, after.failedChecks);
    for (const phase of PHASES) this.phase.set({ ...labels, phase }, phase === after.phase ? 1 : 0);
    if (before.phase === after.phase) return;
    const result = after.phase === 'Succeeded' ? 'promoted' : after.phase === 'Failed' ? 'rolled-back' : null;
    if (result === null) return;
    this.releases.inc({ ...labels, result });
    const started = Date.parse(after.startedAt ?? '');
    if (Number.isFinite(started)) this.duration.observe({ result }, (now - started) / 1000);
  }

  /** A recorded step: counts the release's end when the step ended it. */
  observeStep(
    namespace: string,
    deployment: string,
    step: { status: ReleaseStatus; actions: readonly ReleaseAction[]; at: number },
    changedAt: number | null,
  ): void {
    const ended = endedRelease(step, changedAt);
    if (ended === null) return;
    const { result } = ended;
    this.outcomes.inc({ namespace, deployment, result });
    if (ended.durationSeconds !== null) this.releaseDuration.observe({ result }, ended.durationSeconds);
    if (ended.leadTimeSeconds !== null) this.leadTime.observe(ended.leadTimeSeconds);
  }

  countNotification(receiver: string, result: PostResult): void {
    this.notifications.inc({ receiver, result });
  }

  forget(namespace: string, deployment: string): void {
    const labels = { namespace, deployment };
    this.weight.remove(labels);
    this.failedChecks.remove(labels);
    for (const phase of PHASES) this.phase.remove({ ...labels, phase });
  }
}
