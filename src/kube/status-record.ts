import type { ReleaseAction, ReleaseStatus, Route } from '../release/status.js';
import type { RouteCanary } from '../routes/table.js';
import {
  CANARY_API_VERSION,
  CANARY_PLURAL,
  promotedCondition,
  setCondition,
  writeCanaryStatus,
  type CanaryStatus,
  type Condition,
} from './canary-object.js';
import type { ConfigRef } from './objects.js';
import { apiPath, type KubeRest } from './rest.js';

/**
 * The Canary's status after a step, and writing it. The status is a pure function of the step and of what
 * the controller read before it; the route it holds is published only once it is stored (see KubePlatform).
 */

export interface StatusParts {
  /** The status the step arrived at. */
  release: ReleaseStatus;
  /** The route the primaries' proxies are to follow after the step (routeAfter). */
  route: RouteCanary | null;
  /** The conditions as they were before the step, with those the controller decides (ProxyReachable) set. */
  conditions: readonly Condition[];
  trackedConfigs: readonly ConfigRef[];
  /** The Deployment's metadata.generation the step saw. */
  generation: number;
  now: number;
}

/** The Canary's status: the release's, with the route, the tracked configs and the conditions. Pure. */
export function canaryStatusOf(parts: StatusParts): CanaryStatus {
  return {
    ...parts.release,
    trackedConfigs: parts.trackedConfigs,
    route: parts.route,
    conditions: setCondition(parts.conditions, promotedCondition(parts.release), parts.now),
    observedGeneration: parts.generation,
  };
}

/**
 * The route after a step's actions: the last one it set, or the one before when it set none. `toCanary`
 * gives a route the canary's URL. Pure, given a pure `toCanary`.
 */
export function routeAfter(
  before: RouteCanary | null,
  actions: readonly ReleaseAction[],
  toCanary: (route: Route) => RouteCanary,
): RouteCanary | null {
  const set = actions.filter((a) => a.type === 'setRoute').at(-1);
  if (set === undefined) return before;
  return set.route === null ? null : toCanary(set.route);
}

/** Whether a step changed the route: then it is published once its status is stored. */
export const setsRoute = (actions: readonly ReleaseAction[]): boolean =>
  actions.some((a) => a.type === 'setRoute');

/**
 * Writes the status, only over the Canary as it was last read or written when `resourceVersion` is given
 * (a second writer makes this fail with a conflict). Resolves the Canary's resourceVersion after it.
 */
export async function storeCanaryStatus(
  rest: KubeRest,
  target: { namespace: string; name: string },
  status: CanaryStatus,
  resourceVersion: string | undefined,
): Promise<string | undefined> {
  const patch: unknown[] = [];
  if (resourceVersion !== undefined) {
    patch.push({ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion });
  }
  patch.push({ op: 'add', path: '/status', value: writeCanaryStatus(status) });
  const written = await rest.patch(
    apiPath(CANARY_API_VERSION, CANARY_PLURAL, target.namespace, target.name, 'status'),
    'json',
    patch,
  );
  return written.metadata?.resourceVersion;
}
