import type { Action } from '../annotations.js';
import type { HeaderMatch } from '../match.js';
import type { Check, Measurement } from './check.js';
import type { AskedGateType, GateAnswer } from './gates.js';
import type { CheckRecord } from './history.js';

export const PHASES = [
  'Initialized',
  /** A confirm-rollout gate holds the release before its canary is created. */
  'Waiting',
  'Mirroring',
  'Progressing',
  /** A confirm-promotion gate holds the promotion; checks go on. */
  'WaitingPromotion',
  'Paused',
  'Promoting',
  'Finalising',
  'Succeeded',
  'Failed',
] as const;
export type Phase = (typeof PHASES)[number];

/** The last check with when it ran and at which weight: `status.lastAnalysis`. */
export interface Analysis extends Check {
  readonly at: string;
  readonly weight: number;
}

/** How the last release ended, so that `kubectl get canary -o yaml` and the CLI say why without logs. */
export interface Outcome {
  readonly reason: 'Promoted' | 'RolledBack' | 'Reverted' | 'Cancelled';
  readonly revision: string;
  readonly message: string;
  readonly at: string;
}

/**
 * A release's state, all of it: the `Canary` object's status. The controller resumes from it after a
 * restart, so nothing the machine needs lives only in memory. Times are RFC 3339.
 */
export interface ReleaseStatus {
  readonly phase: Phase;
  readonly canaryWeight: number;
  /** Failed checks in this release, not reset by a passing check. */
  readonly failedChecks: number;
  /** Passing checks in A/B mode. */
  readonly iterations: number;
  /** Passing checks of mirrored requests (phase Mirroring); the weighted steps begin at `mirror-checks`. */
  readonly mirrorChecks: number;
  readonly stableRevision: string | null;
  readonly candidateRevision: string | null;
  /** A candidate that was rolled back; it is not started again until `sluice retry`. */
  readonly failedRevision: string | null;
  readonly startedAt: string | null;
  /** When the canary was ready and its route published; checks count from here. */
  readonly routedAt: string | null;
  readonly lastCheckAt: string | null;
  readonly pausedAt: string | null;
  /** Time spent paused in this release, which the progress deadline does not count. */
  readonly pausedMs: number;
  readonly lastAnalysis: Analysis | null;
  /** Every check of this release, oldest first, the last 20: `lastAnalysis` is the newest in full. */
  readonly checkHistory: readonly CheckRecord[];
  /** How the last release ended; null until one has. */
  readonly outcome: Outcome | null;
  readonly lastTransitionTime: string;
}

export function initialStatus(now: number): ReleaseStatus {
  return {
    phase: 'Initialized',
    canaryWeight: 0,
    failedChecks: 0,
    iterations: 0,
    mirrorChecks: 0,
    stableRevision: null,
    candidateRevision: null,
    failedRevision: null,
    startedAt: null,
    routedAt: null,
    lastCheckAt: null,
    pausedAt: null,
    pausedMs: 0,
    lastAnalysis: null,
    checkHistory: [],
    outcome: null,
    lastTransitionTime: new Date(now).toISOString(),
  };
}

/** What the world looked like when this step was taken. */
export interface Observations {
  /** `sluice.dev/stable-revision` on the Deployment. */
  readonly stableRevision: string | null;
  /** `sluice.dev/candidate-revision`: the held change, if any. */
  readonly candidateRevision: string | null;
  /** The canary Deployment runs the candidate and is ready. */
  readonly canaryReady: boolean;
  /** The primary has rolled out `stableRevision` and is ready. */
  readonly primaryReady: boolean;
  /**
   * Why the canary's pods are not starting, in the kubelet's words (`CrashLoopBackOff, last exit code 1`),
   * or null when they are starting, ready, or not there.
   */
  readonly canaryProblem: string | null;
  /** The provider's answer for the window that ends now, when the driver asked (see nextCheckAt). */
  readonly measurement: Measurement | null;
  /** `sluice.dev/action`, consumed by this step. */
  readonly action: Action | null;
  /** The answers of the gates the step asked for (`Step.asks`); empty on a step's first try. */
  readonly gates: readonly GateAnswer[];
}

export interface Route {
  readonly weight: number;
  readonly match: readonly HeaderMatch[];
  readonly segment: readonly HeaderMatch[];
  readonly sticky: string | null;
  /** Share of the primaries' idempotent requests copied to the canary (percent); absent when none. */
  readonly mirror?: number;
}

export type EventReason =
  | 'CanaryStarted'
  | 'CanaryReady'
  | 'WeightIncreased'
  | 'CheckPassed'
  | 'CheckFailed'
  | 'CheckInconclusive'
  | 'Paused'
  | 'Resumed'
  | 'Promoting'
  | 'Promoted'
  | 'RolledBack'
  | 'CanaryCancelled'
  | 'Reverted'
  | 'ActionIgnored'
  | 'WaitingForApproval'
  | 'Approved'
  | 'PostRolloutFailed';

/** What the platform (Kubernetes, or the demo's local one) is to carry out, in order. */
export type ReleaseAction =
  | { readonly type: 'createCanary'; readonly revision: string }
  | { readonly type: 'setRoute'; readonly route: Route | null }
  | { readonly type: 'promote'; readonly revision: string }
  | { readonly type: 'deleteCanary' }
  | { readonly type: 'markFailed'; readonly revision: string }
  | { readonly type: 'clearAction'; readonly action: Action }
  /** Call the post-rollout gates; the driver does, and reports a refusal as a Warning Event. */
  | { readonly type: 'postRollout'; readonly phase: 'Succeeded' | 'Failed' }
  | {
      readonly type: 'event';
      readonly kind: 'Normal' | 'Warning';
      readonly reason: EventReason;
      readonly message: string;
    };

export interface Step {
  readonly status: ReleaseStatus;
  readonly actions: readonly ReleaseAction[];
  /**
   * Gate types the step reached without their answers. When not empty, the step is not to be carried out:
   * the driver calls these gates and takes the step again, from the same status, with their answers.
   */
  readonly asks: readonly AskedGateType[];
}
