import type { Observations, ReleaseAction, ReleaseStatus } from './status.js';

/**
 * Where a release's actions are carried out (STYLE.md: kube, local-demo). The runner asks it what the
 * world looks like, hands it the state machine's actions in order, and has it keep the status.
 */
export interface Platform {
  /** Revisions, readiness and a pending manual action: everything a step observes but the metrics. */
  observe(): Promise<Omit<Observations, 'measurement' | 'gates'>>;
  /** Carries out one action; throws when it could not, and the runner stops the step there. */
  apply(action: ReleaseAction): Promise<void>;
  /**
   * Keeps the status where a restarted runner finds it (the Canary object; memory for the demo). `actions`
   * are the step's, all carried out: what they set (the route) is kept with the status.
   */
  record(status: ReleaseStatus, actions: readonly ReleaseAction[]): Promise<void>;
}
