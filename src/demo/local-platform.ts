import type { Action } from '../annotations.js';
import type { AppBehaviour } from './app.js';
import type { LocalCluster } from './cluster.js';
import type { RouteStore } from '../routes/server.js';
import type { Observations, ReleaseAction, ReleaseStatus } from '../release/status.js';
import type { Platform } from '../release/platform.js';

/**
 * The demo's platform: carries out release actions on a LocalCluster. A revision is a version of the
 * sample app; "deploying" one makes it the candidate, as the webhook holding a change would.
 */

export type ReleaseEvent = Extract<ReleaseAction, { type: 'event' }>;

export interface LocalPlatformOptions {
  namespace: string;
  deployment: string;
  cluster: LocalCluster;
  routes: RouteStore;
  /** The app behaviour of each revision. */
  revisions: Readonly<Record<string, AppBehaviour>>;
  stableRevision: string;
  /** How long each primary takes to switch during promotion, so that Promoting can be seen. */
  rolloutStepMs?: number;
  /** How long to wait for every primary proxy to apply a new route table. */
  routeWaitMs?: number;
  onEvent?: (event: ReleaseEvent) => void;
}

export class UnknownRevisionError extends Error {
  readonly code = 'UnknownRevision';
  constructor(readonly revision: string) {
    super(`no app version is known as revision "${revision}"`);
    this.name = 'UnknownRevisionError';
  }
}

export class NoCanaryError extends Error {
  readonly code = 'NoCanary';
  constructor() {
    super('a route to the canary was asked for, but no canary is running');
    this.name = 'NoCanaryError';
  }
}

export class RouteNotAppliedError extends Error {
  readonly code = 'RouteNotApplied';
  constructor(
    readonly version: string,
    waitedMs: number,
  ) {
    super(`the primary proxies did not apply route ${version} within ${waitedMs} ms`);
    this.name = 'RouteNotAppliedError';
  }
}

export class LocalPlatform implements Platform {
  private stableRevision: string;
  private candidateRevision: string | null = null;
  private canaryRevision: string | null = null;
  private rollingOut: Promise<void> | null = null;
  private pendingAction: Action | null = null;
  readonly failedRevisions = new Set<string>();
  status: ReleaseStatus | null = null;

  constructor(private readonly options: LocalPlatformOptions) {
    this.stableRevision = options.stableRevision;
  }

  /** A new version is pushed: it becomes the candidate, the primaries keep running the stable one. */
  deploy(revision: string): void {
    this.behaviourOf(revision);
    this.candidateRevision = revision === this.stableRevision ? null : revision;
  }

  /** The operator's commands (`sluice promote`, `abort`, …), taken by the next step. */
  request(action: Action): void {
    this.pendingAction = action;
  }

  observe(): Promise<Omit<Observations, 'measurement' | 'gates'>> {
    const { cluster } = this.options;
    const canary = cluster.canary;
    return Promise.resolve({
      stableRevision: this.stableRevision,
      candidateRevision: this.candidateRevision,
      canaryReady:
        canary !== null && this.canaryRevision !== null && this.canaryRevision === this.candidateRevision,
      canaryProblem: null,
      primaryReady:
        this.rollingOut === null && cluster.primariesServe(this.behaviourOf(this.stableRevision).version),
      action: this.pendingAction,
    });
  }

  async apply(action: ReleaseAction): Promise<void> {
    const { cluster, namespace, deployment, routes } = this.options;
    switch (action.type) {
      case 'createCanary':
        if (cluster.canary !== null && this.canaryRevision === action.revision) return;
        await cluster.createCanary(this.behaviourOf(action.revision));
        this.canaryRevision = action.revision;
        return;
      case 'setRoute': {
        if (action.route !== null && cluster.canary === null) throw new NoCanaryError();
        const table = routes.set(
          namespace,
          deployment,
          action.route === null
            ? null
            : {
                url: cluster.canary?.url ?? '',
                weight: action.route.weight,
                match: [...action.route.match],
                segment: [...action.route.segment],
                sticky: action.route.sticky,
                ...(action.route.mirror !== undefined && { mirror: action.route.mirror }),
              },
        );
        await this.waitForRoute(table.version);
        return;
      }
      case 'promote':
        this.promote(action.revision);
        return;
      case 'deleteCanary':
        await this.waitForRoute(routes.get(namespace, deployment).version);
        await cluster.deleteCanary();
        this.canaryRevision = null;
        return;
      case 'markFailed':
        this.failedRevisions.add(action.revision);
        return;
      case 'clearAction':
        if (this.pendingAction === action.action) this.pendingAction = null;
        return;
      case 'event':
        this.options.onEvent?.(action);
        return;
    }
  }

  record(status: ReleaseStatus): Promise<void> {
    this.status = status;
    return Promise.resolve();
  }

  /** Waits for a rollout still under way, e.g. before stopping the cluster. */
  async settled(): Promise<void> {
    await this.rollingOut;
  }

  /**
   * As the promotion marker does on Kubernetes: the candidate becomes stable at once, and the primaries
   * roll to it one by one while the canary keeps its share; primaryReady turns true when they are done.
   */
  private promote(revision: string): void {
    if (this.stableRevision === revision && this.rollingOut !== null) return;
    const behaviour = this.behaviourOf(revision);
    this.stableRevision = revision;
    if (this.candidateRevision === revision) this.candidateRevision = null;
    const stepMs = this.options.rolloutStepMs ?? 500;
    const rollout = (async () => {
      for (const pod of this.options.cluster.primaries) {
        await new Promise((resolve) => setTimeout(resolve, stepMs));
        pod.app.setBehaviour(behaviour);
      }
    })();
    this.rollingOut = rollout;
    void rollout.finally(() => {
      if (this.rollingOut === rollout) this.rollingOut = null;
    });
  }

  private async waitForRoute(version: string): Promise<void> {
    const waitMs = this.options.routeWaitMs ?? 5_000;
    const deadline = Date.now() + waitMs;
    const applied = (): boolean =>
      this.options.cluster.primaries.every((pod) => pod.proxy.route().version === version);
    while (!applied()) {
      if (Date.now() > deadline) throw new RouteNotAppliedError(version, waitMs);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private behaviourOf(revision: string): AppBehaviour {
    const behaviour = this.options.revisions[revision];
    if (behaviour === undefined) throw new UnknownRevisionError(revision);
    return behaviour;
  }
}
