import { ACTIONS, ANNOTATIONS, type Action, type CanaryConfig } from '../annotations.js';
import { proxyPorts } from '../injection/read.js';
import type { Platform } from '../release/platform.js';
import type { Observations, ReleaseAction, ReleaseStatus, Route } from '../release/status.js';
import type { RouteCanary } from '../routes/table.js';
import { createCanary, deleteCanary, scaleCanary } from './canary-resources.js';
import { sameCanaryStatus, type CanaryStatus, type Condition } from './canary-object.js';
import { recordEvent } from './events.js';
import {
  canaryName,
  canaryRevisionOf,
  canaryUrl,
  CANARY_OF_LABEL,
  rolloutComplete,
  type DeploymentObject,
} from './objects.js';
import { describeNotReady, podStartFailure, podsNotReady, type PodObject } from './pods.js';
import { clearAction, promote } from './promotion.js';
import { viewRelease, type ReleaseView } from './release-view.js';
import { apiPath } from './rest.js';
import { canaryStatusOf, routeAfter, setsRoute, storeCanaryStatus } from './status-record.js';
import { deploymentOf, type KubeWorld, type ReleaseTarget } from './world.js';

/**
 * The Kubernetes platform (STYLE.md: "a Platform that carries out release actions"): observes one opted-in
 * Deployment through the controller's caches and carries out the state machine's actions with API calls,
 * each concern in its own file (canary-resources, promotion, events, status-record). One is made for each
 * step, from the caches and the Canary's status as they are then, and keeps nothing between its calls.
 */

/** An action named a revision that is no longer the candidate: the next step sees the new one. */
export class StaleRevisionError extends Error {
  readonly code = 'StaleRevision';
  constructor(asked: string, current: string | null) {
    super(`revision ${asked} is no longer the candidate (now ${current ?? 'none'})`);
    this.name = 'StaleRevisionError';
  }
}

/** The Canary's status as stored by a step, and the Canary's resourceVersion after the write. */
export interface RecordedStatus {
  status: CanaryStatus;
  resourceVersion: string | undefined;
}

export interface KubePlatformOptions {
  world: KubeWorld;
  namespace: string;
  name: string;
  config: CanaryConfig;
  /** The status as last recorded, with what only the Canary object holds. */
  previous: CanaryStatus;
  /** The conditions the step starts from: the previous ones, with what the controller decides set. */
  conditions: readonly Condition[];
  /** The Canary's resourceVersion when it was last read or written; guards against a second writer. */
  resourceVersion: string | undefined;
  /** Told of the status once it is stored, before the route it holds is published. */
  onRecorded?: (recorded: RecordedStatus) => void;
  now?: () => number;
}

export class KubePlatform implements Platform {
  private readonly now: () => number;
  private readonly target: ReleaseTarget;

  constructor(private readonly options: KubePlatformOptions) {
    this.now = options.now ?? Date.now;
    this.target = { world: options.world, namespace: options.namespace, name: options.name };
  }

  private get deployment(): DeploymentObject {
    return deploymentOf(this.target);
  }

  view(): ReleaseView {
    const { world, namespace } = this.options;
    return viewRelease(this.deployment, (kind, name) => world.config(kind, namespace, name));
  }

  async observe(): Promise<Omit<Observations, 'measurement' | 'gates'>> {
    const deployment = this.deployment;
    const view = this.view();
    const canary = this.options.world.deployment(this.options.namespace, canaryName(this.options.name));
    const action = deployment.metadata?.annotations?.[ANNOTATIONS.action];
    const canaryReady =
      view.candidateRevision !== null &&
      canaryRevisionOf(canary) === view.candidateRevision &&
      rolloutComplete(canary);
    return {
      stableRevision: view.stableRevision,
      candidateRevision: view.candidateRevision,
      canaryReady,
      canaryProblem: canary === undefined || canaryReady ? null : await this.canaryProblem(),
      primaryReady: rolloutComplete(deployment),
      action: ACTIONS.includes(action as Action) ? (action as Action) : null,
    };
  }

  /** Why the canary's pods are not ready, read off the pods while it has not become ready. */
  private async canaryProblem(): Promise<string | null> {
    const { world, namespace, name } = this.options;
    const pods = await world.rest.list<PodObject>(
      apiPath('v1', 'pods', namespace),
      `${CANARY_OF_LABEL}=${name}`,
    );
    const notReady = podsNotReady(pods.items);
    return podStartFailure(pods.items) ?? (notReady.length === 0 ? null : describeNotReady(notReady));
  }

  async apply(action: ReleaseAction): Promise<void> {
    const { config } = this.options;
    switch (action.type) {
      case 'createCanary':
        return createCanary(this.target, this.ensureCandidate(action.revision), config, action.revision);
      case 'setRoute':
        // The route itself is published with the status that holds it (record); a primary without a
        // proxy to route from fails the action here, before the canary is scaled.
        if (action.route === null) return;
        this.canaryRoute(action.route);
        // Copies load the canary as routed requests do.
        return scaleCanary(this.target, config, Math.max(action.route.weight, action.route.mirror ?? 0));
      case 'promote':
        return promote(this.target, this.ensureCandidate(action.revision), this.now());
      case 'deleteCanary':
        return deleteCanary(this.target);
      case 'markFailed':
        // The failed revision is kept in status (failedRevision), where retry and the CLI read it.
        return;
      case 'clearAction':
        return clearAction(this.target, action.action);
      case 'event':
        return this.event(action.kind, action.reason, action.message);
    }
  }

  /**
   * Stores the Canary's status after the step whose actions were carried out, then publishes the route it
   * holds to this replica's route store: a route is never served that the Canary does not hold, so a
   * status write that fails leaves the old route in place, here as on every other replica.
   */
  async record(status: ReleaseStatus, actions: readonly ReleaseAction[]): Promise<void> {
    const { world, namespace, name, previous, conditions } = this.options;
    const full = canaryStatusOf({
      release: status,
      route: routeAfter(previous.route, actions, (route) => this.canaryRoute(route)),
      conditions,
      trackedConfigs: this.view().configs.map((c) => c.ref),
      generation: this.deployment.metadata?.generation ?? 0,
      now: this.now(),
    });
    // Most ticks change nothing; writing anyway cost an API request and a watch event to every replica per
    // release per tick (500 releases: ~450 writes a second). Unchanged, the route is unchanged too.
    const unchanged = this.options.resourceVersion !== undefined && sameCanaryStatus(previous, full);
    if (unchanged) {
      this.options.onRecorded?.({ status: previous, resourceVersion: this.options.resourceVersion });
      return;
    }
    const resourceVersion = await storeCanaryStatus(
      world.rest,
      { namespace, name },
      full,
      this.options.resourceVersion,
    );
    this.options.onRecorded?.({ status: full, resourceVersion });
    // The other replicas pick it up from the Canary's status.
    if (setsRoute(actions)) world.routes.set(namespace, name, full.route);
  }

  /** Scales the canary to its share of the primary at `weight` (see canary-resources). */
  scaleCanary(weight: number): Promise<void> {
    return scaleCanary(this.target, this.options.config, weight);
  }

  /** The route the primaries' proxies follow: to the canary's Service, on the app's port. */
  private canaryRoute(route: Route): RouteCanary {
    const { world, namespace, name } = this.options;
    const ports = proxyPorts(this.deployment.spec?.template);
    if (ports === null) throw new Error(`deployment ${namespace}/${name} has no sluice proxy`);
    return {
      url: canaryUrl(world.canaryUrlTemplate, { name, namespace, port: ports.appPort }),
      weight: route.weight,
      match: [...route.match],
      segment: [...route.segment],
      sticky: route.sticky,
      ...(route.mirror !== undefined && { mirror: route.mirror }),
    };
  }

  private ensureCandidate(revision: string): ReleaseView {
    const view = this.view();
    if (view.candidateRevision !== revision) throw new StaleRevisionError(revision, view.candidateRevision);
    return view;
  }

  private async event(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const { world, namespace, name } = this.options;
    await recordEvent(world, this.deployment, { type, reason, message }, this.now());
    world.logger.info({ namespace, deployment: name, reason, eventType: type, message }, 'releaseEvent');
  }
}
