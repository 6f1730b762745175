import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES } from '../release/status.js';
import type { CanaryStatus } from '../kube/canary-object.js';

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

  forget(namespace: string, deployment: string): void {
    const labels = { namespace, deployment };
    this.weight.remove(labels);
    this.failedChecks.remove(labels);
    for (const phase of PHASES) this.phase.remove({ ...labels, phase });
  }
}
