/**
 * What the live page shows of one release, as JSON at /api/release: built up by a ReleaseRecorder from
 * what the runner reports, so that the page needs no access to the state machine's types.
 */

export interface SideNumbers {
  requests: number;
  /** Percent, null without requests. */
  successRate: number | null;
  meanLatencyMs: number | null;
  p99LatencyMs: number | null;
}

export type CheckResult = 'passed' | 'failed' | 'inconclusive';

export interface CheckView {
  /** Seconds since the release started. */
  t: number;
  weight: number;
  result: CheckResult;
  /** The numbers against the objectives, as the event says them ("success rate 71.3% < 99%"). */
  message: string;
  canary: SideNumbers | null;
  primary: SideNumbers | null;
}

export interface EventView {
  t: number;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface ReleaseView {
  namespace: string;
  deployment: string;
  /** What the release is checked against, one line per objective, e.g. "success-rate >= 99". */
  objectives: string[];
  maxWeight: number;
  phase: string;
  weight: number;
  failedChecks: number;
  threshold: number;
  /** Epoch milliseconds. */
  startedAt: number;
  /** Seconds since the start, as of this view. */
  elapsed: number;
  /** The weight after each change of weight or phase. */
  points: { t: number; weight: number; phase: string }[];
  checks: CheckView[];
  events: EventView[];
  /** Filled in by whoever drives the traffic (the demo's load generator); null otherwise. */
  traffic: {
    requests: number;
    failures: number;
    canaryRequests: number;
    canaryFailures: number;
    /** Copies the primaries' proxies sent the canary (sluice.dev/mirror), whose answers nobody saw. */
    mirrored?: number;
  } | null;
  /** Set once the release is over. */
  result: 'promoted' | 'rolled-back' | null;
}

const MAX_ENTRIES = 500;

/** Records a release for the page: pure, fed by the runner's hooks, read by the HTTP handler. */
export class ReleaseRecorder {
  private readonly view: ReleaseView;

  constructor(
    init: Pick<ReleaseView, 'namespace' | 'deployment' | 'objectives' | 'maxWeight' | 'threshold'> & {
      phase: string;
      startedAt: number;
    },
  ) {
    this.view = {
      ...init,
      weight: 0,
      failedChecks: 0,
      elapsed: 0,
      points: [{ t: 0, weight: 0, phase: init.phase }],
      checks: [],
      events: [],
      traffic: null,
      result: null,
    };
  }

  private seconds(now: number): number {
    return Math.max(0, Math.round((now - this.view.startedAt) / 100) / 10);
  }

  status(now: number, status: { phase: string; weight: number; failedChecks: number }): void {
    const { view } = this;
    const last = view.points.at(-1);
    if (last?.weight !== status.weight || last.phase !== status.phase) {
      push(view.points, { t: this.seconds(now), weight: status.weight, phase: status.phase });
    }
    view.phase = status.phase;
    view.weight = status.weight;
    view.failedChecks = status.failedChecks;
  }

  check(now: number, check: Omit<CheckView, 't'>): void {
    push(this.view.checks, { t: this.seconds(now), ...check });
  }

  event(now: number, event: Omit<EventView, 't'>): void {
    push(this.view.events, { t: this.seconds(now), ...event });
  }

  traffic(totals: NonNullable<ReleaseView['traffic']>): void {
    this.view.traffic = { ...totals };
  }

  finish(result: NonNullable<ReleaseView['result']>): void {
    this.view.result = result;
  }

  snapshot(now: number): ReleaseView {
    return structuredClone({ ...this.view, elapsed: this.seconds(now) });
  }
}

function push<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_ENTRIES) list.splice(0, list.length - MAX_ENTRIES);
}
