import type { ReleaseAction, ReleaseStatus } from './status.js';

/**
 * How a release ended, for the outcome metrics (docs/controller.md, "Release outcome metrics"), read from
 * the Events of the step that ended it. A rollback asked for with `sluice abort` and a release cancelled
 * by opting out are both `aborted`: a person stopped it, the analysis did not.
 */
export const RELEASE_RESULTS = ['promoted', 'rolled_back', 'reverted', 'aborted'] as const;
export type ReleaseResult = (typeof RELEASE_RESULTS)[number];

export interface EndedRelease {
  readonly result: ReleaseResult;
  /** From the release's start (status.startedAt) to its end. */
  readonly durationSeconds: number | null;
  /** For a promotion: from the change (when it was written, else when the release started) to now. */
  readonly leadTimeSeconds: number | null;
}

export function endedRelease(
  step: { status: ReleaseStatus; actions: readonly ReleaseAction[]; at: number },
  /** When the candidate was written to the Deployment, if known. */
  changedAt: number | null,
): EndedRelease | null {
  const result = resultOf(step.actions);
  if (result === null) return null;
  const started = Date.parse(step.status.startedAt ?? '');
  if (!Number.isFinite(started)) return { result, durationSeconds: null, leadTimeSeconds: null };
  const durationSeconds = Math.max(0, step.at - started) / 1000;
  // A time after the start is another write by the same client (an annotation), not the change.
  const changed = changedAt === null ? started : Math.min(changedAt, started);
  const leadTimeSeconds = result === 'promoted' ? Math.max(0, step.at - changed) / 1000 : null;
  return { result, durationSeconds, leadTimeSeconds };
}

function resultOf(actions: readonly ReleaseAction[]): ReleaseResult | null {
  const aborted = actions.some((a) => a.type === 'clearAction' && a.action === 'abort');
  for (const action of actions) {
    if (action.type !== 'event') continue;
    switch (action.reason) {
      case 'Promoted':
        return 'promoted';
      case 'RolledBack':
        return aborted ? 'aborted' : 'rolled_back';
      case 'Reverted':
        return 'reverted';
      case 'CanaryCancelled':
        return 'aborted';
      default:
        break;
    }
  }
  return null;
}
