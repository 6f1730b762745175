import type { CanaryConfig } from '../annotations.js';
import { readCanaryStatus, type CanaryObject, type CanaryStatus } from '../kube/canary-object.js';
import type { SideMetrics } from '../metrics/provider.js';
import type { Analysis } from '../release/status.js';
import { formatObjective } from '../objectives.js';
import { sideNumbers } from './from-release.js';
import { ReleaseRecorder, type CheckResult, type ReleaseView } from './view.js';

/**
 * The controller's live pages: what every replica's Canary informer shows of each release, as one
 * ReleaseRecorder per Canary. The Canary's status holds the release's present (phase, weight, the last
 * check); its past on the page (the weight over time, each check) is what this replica saw change, so a
 * replica started in the middle of a release draws the part before its start as one step.
 */

/** One line of the index. */
export interface BoardRow {
  namespace: string;
  deployment: string;
  phase: string;
  weight: number;
  failedChecks: number;
  threshold: number | null;
  candidateRevision: string | null;
  stableRevision: string | null;
  /** The candidate the last rollback left: not started again until `sluice retry`. */
  failedRevision: string | null;
  lastCheck: { at: string; weight: number; result: CheckResult; summary: string } | null;
  /** How the last release ended, as `status.outcome` says it. */
  outcome: { reason: string; message: string; at: string } | null;
}

export interface BoardOptions {
  /** The release settings of a Deployment (its annotations), or null when unknown or invalid. */
  config: (namespace: string, deployment: string) => CanaryConfig | null;
  now?: () => number;
}

interface Tracked {
  namespace: string;
  deployment: string;
  /** As the annotations said when the release started, like the rest of its page. */
  threshold: number | null;
  recorder: ReleaseRecorder;
  /** Epoch milliseconds: the release's start, or when this replica first saw a Canary that never started one. */
  startMs: number;
  /** The release the recorder follows: a new startedAt is a new release, and a new recorder. */
  startedAt: string | null;
  status: CanaryStatus;
  /** When the release settled, for a phase that no longer moves: the page's clock stops there. */
  settledAt: number | null;
  /** The requests the checks measured, summed: the page's traffic figures, which the demo's load gives. */
  traffic: ReleaseView['traffic'];
}

const SETTLED = new Set(['Initialized', 'Succeeded', 'Failed']);
const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export class ReleaseBoard {
  private readonly releases = new Map<string, Tracked>();
  private readonly now: () => number;

  constructor(private readonly options: BoardOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Feeds one Canary change from the informer. */
  observe(canary: CanaryObject, kind: 'add' | 'update' | 'delete'): void {
    const namespace = canary.metadata?.namespace ?? 'default';
    const name = canary.metadata?.name ?? '';
    const key = keyOf(namespace, name);
    if (kind === 'delete') {
      this.releases.delete(key);
      return;
    }
    const now = this.now();
    const status = readCanaryStatus(canary, now);
    let tracked = this.releases.get(key);
    // At a replica's start the Canaries may be listed before their Deployments: the settings come late.
    const settingsArrived = tracked?.threshold === null && this.options.config(namespace, name) !== null;
    if (tracked === undefined || tracked.startedAt !== status.startedAt || settingsArrived) {
      tracked = this.track(namespace, name, status, now);
      this.releases.set(key, tracked);
    }
    this.record(tracked, status, now);
  }

  rows(): BoardRow[] {
    return [...this.releases.values()]
      .map(({ namespace, deployment, status, threshold }) => {
        const analysis = status.lastAnalysis;
        return {
          namespace,
          deployment,
          phase: status.phase,
          weight: status.canaryWeight,
          failedChecks: status.failedChecks,
          threshold,
          candidateRevision: status.candidateRevision,
          stableRevision: status.stableRevision,
          failedRevision: status.failedRevision,
          lastCheck:
            analysis === null
              ? null
              : {
                  at: analysis.at,
                  weight: analysis.weight,
                  result: analysis.result,
                  summary: analysis.summary,
                },
          outcome: status.outcome,
        };
      })
      .sort((a, b) => keyOf(a.namespace, a.deployment).localeCompare(keyOf(b.namespace, b.deployment)));
  }

  /** The page's view of one release, or undefined when this replica holds no Canary of that name. */
  view(namespace: string, deployment: string): ReleaseView | undefined {
    const tracked = this.releases.get(keyOf(namespace, deployment));
    if (tracked === undefined) return undefined;
    return tracked.recorder.snapshot(tracked.settledAt ?? this.now());
  }

  private track(namespace: string, deployment: string, status: CanaryStatus, now: number): Tracked {
    const config = this.options.config(namespace, deployment);
    const startMs = parseTime(status.startedAt) ?? now;
    const recorder = new ReleaseRecorder({
      namespace,
      deployment,
      objectives: config?.objectives.map(formatObjective) ?? [],
      maxWeight: config?.maxWeight ?? 100,
      threshold: config?.threshold ?? 0,
      phase: 'Initialized',
      startedAt: startMs,
    });
    return {
      namespace,
      deployment,
      threshold: config?.threshold ?? null,
      recorder,
      startMs,
      startedAt: status.startedAt,
      status: initialSeen(status),
      settledAt: null,
      traffic: null,
    };
  }

  private record(tracked: Tracked, status: CanaryStatus, now: number): void {
    const { recorder, startMs: start } = tracked;
    const before = tracked.status;
    const settled = SETTLED.has(status.phase);
    // A release this replica first sees settled is drawn as of when it settled, not as of now.
    const outcomeAt = parseTime(status.outcome?.at ?? null);
    const at = settled && outcomeAt !== null && outcomeAt >= start ? Math.min(outcomeAt, now) : now;
    tracked.settledAt = settled ? (before.phase === status.phase ? (tracked.settledAt ?? at) : at) : null;

    const analysis = status.lastAnalysis;
    const checkAt = parseTime(analysis?.at ?? null);
    if (
      analysis !== null &&
      checkAt !== null &&
      checkAt >= start &&
      analysis.at !== before.lastAnalysis?.at
    ) {
      if (analysis.canary !== null) tracked.traffic = addCheckTraffic(tracked.traffic, analysis);
      if (tracked.traffic !== null) recorder.traffic(tracked.traffic);
      recorder.check(checkAt, {
        weight: analysis.weight,
        result: analysis.result,
        message: analysis.summary,
        canary: sideNumbers(analysis.canary),
        primary: sideNumbers(analysis.primary),
      });
      recorder.event(checkAt, {
        type: analysis.result === 'failed' ? 'Warning' : 'Normal',
        reason: CHECK_REASONS[analysis.result],
        message: `at weight ${analysis.weight}%: ${analysis.summary}`,
      });
    }
    if (status.phase !== before.phase) {
      recorder.event(at, {
        type: status.phase === 'Failed' ? 'Warning' : 'Normal',
        reason: status.phase,
        message: phaseMessage(status),
      });
    } else if (status.canaryWeight !== before.canaryWeight) {
      recorder.event(at, {
        type: 'Normal',
        reason: 'WeightChanged',
        message: `canary weight ${before.canaryWeight}% → ${status.canaryWeight}%`,
      });
    }
    recorder.status(at, {
      phase: status.phase,
      weight: status.canaryWeight,
      failedChecks: status.failedChecks,
    });
    if (status.phase === 'Succeeded') recorder.finish('promoted');
    if (status.phase === 'Failed') recorder.finish('rolled-back');
    tracked.status = status;
  }
}

const CHECK_REASONS: Record<CheckResult, string> = {
  passed: 'CheckPassed',
  failed: 'CheckFailed',
  inconclusive: 'CheckInconclusive',
};

/** What the board compares the first status it sees against: nothing seen yet. */
function initialSeen(status: CanaryStatus): CanaryStatus {
  return { ...status, phase: 'Initialized', canaryWeight: 0, lastAnalysis: null };
}

/** Adds one check's window to the totals; a window's failures are its requests less its successes. */
function addCheckTraffic(
  totals: ReleaseView['traffic'],
  analysis: Analysis,
): NonNullable<ReleaseView['traffic']> {
  const failures = (side: SideMetrics | null): number =>
    side === null ? 0 : Math.round((side.requests * (100 - (side.successRate ?? 100))) / 100);
  // Prometheus's increase() extrapolates: its counts need not be whole.
  const canary = Math.round(analysis.canary?.requests ?? 0);
  const primary = Math.round(analysis.primary?.requests ?? 0);
  const canaryFailures = failures(analysis.canary);
  return {
    requests: (totals?.requests ?? 0) + canary + primary,
    failures: (totals?.failures ?? 0) + canaryFailures + failures(analysis.primary),
    canaryRequests: (totals?.canaryRequests ?? 0) + canary,
    canaryFailures: (totals?.canaryFailures ?? 0) + canaryFailures,
  };
}

function phaseMessage(status: CanaryStatus): string {
  const candidate = status.candidateRevision ?? 'none';
  switch (status.phase) {
    case 'Progressing':
      return `revision ${candidate} at canary weight ${status.canaryWeight}%`;
    case 'Paused':
      return `held at canary weight ${status.canaryWeight}% (kubectl sluice resume continues it)`;
    case 'Promoting':
      return `copying revision ${candidate} to the primary`;
    case 'Finalising':
      return 'primary ready: routing all traffic to it';
    default:
      return status.outcome?.message ?? `revision ${status.stableRevision ?? 'none'} is stable`;
  }
}

function parseTime(value: string | null): number | null {
  if (value === null) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
