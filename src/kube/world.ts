import type { SealKey } from '../candidate.js';
import type { Logger } from '../log.js';
import type { RouteStore } from '../routes/server.js';
import type { ConfigKind, ConfigObject, DeploymentObject } from './objects.js';
import type { KubeRest } from './rest.js';

/** What the kube platform works with: the API, the controller's caches, and where routes are served. */
export interface KubeWorld {
  rest: KubeRest;
  deployment(namespace: string, name: string): DeploymentObject | undefined;
  /** A tracked ConfigMap or Secret (labelled sluice.dev/tracked), from the caches. */
  config(kind: ConfigKind, namespace: string, name: string): ConfigObject | undefined;
  routes: RouteStore;
  sealKey: SealKey | undefined;
  canaryUrlTemplate: string;
  identity: string;
  logger: Logger;
}

/** One release: its Deployment, in the world it is carried out in. */
export interface ReleaseTarget {
  world: KubeWorld;
  namespace: string;
  name: string;
}

/** The Deployment of a release from the caches; gone is an error, as a step cannot go on without it. */
export function deploymentOf(target: ReleaseTarget): DeploymentObject {
  const found = target.world.deployment(target.namespace, target.name);
  if (found === undefined) throw new Error(`deployment ${target.namespace}/${target.name} is gone`);
  return found;
}
