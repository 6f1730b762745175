import type { CanaryConfig } from '../annotations.js';
import { injectProxy } from '../injection/inject.js';
import { proxyPorts, proxySettingsOf } from '../injection/read.js';
import { removeInjection } from '../injection/remove.js';
import {
  canaryDeployment,
  canaryName,
  canaryService,
  CANARY_OF_LABEL,
  configCopy,
  configPlural,
  renameConfigRefs,
} from './objects.js';
import { heldData, type ReleaseView } from './release-view.js';
import { apiPath } from './rest.js';
import { deploymentOf, type ReleaseTarget } from './world.js';

/**
 * The objects a canary runs on: the `<name>-canary` Deployment and Service, and the `-canary` copies of
 * the configs whose change is held. Created together, scaled with the canary's weight, deleted together.
 */

/** The canary's replicas at a weight: its share of the primary's, at least one, unless pinned. */
export function canaryReplicas(config: CanaryConfig, primaryReplicas: number, weight: number): number {
  return config.canaryReplicas ?? Math.max(1, Math.ceil((primaryReplicas * weight) / 100));
}

/** Creates (or updates) the canary of the held candidate: config copies first, then Deployment and Service. */
export async function createCanary(
  target: ReleaseTarget,
  view: ReleaseView,
  config: CanaryConfig,
  revision: string,
): Promise<void> {
  const { world, namespace, name } = target;
  const primary = deploymentOf(target);
  const live = primary.spec?.template;
  if (live === undefined) throw new Error(`deployment ${namespace}/${name} has no pod template`);

  const renames = new Map<string, string>();
  for (const held of view.configs) {
    if (held.candidate === null) continue;
    const copy = configCopy(primary, held.object, held.ref.kind, heldData(held, world.sealKey, target));
    await world.rest.apply(apiPath('v1', configPlural(held.ref.kind), namespace, copy.metadata?.name), copy);
    renames.set(`${held.ref.kind}/${held.ref.name}`, copy.metadata?.name ?? '');
  }

  // While a template change is held, the spec is the candidate; otherwise it is the stable template.
  const candidate = removeInjection(live);
  const settings = proxySettingsOf(live);
  if (settings === null) {
    throw new Error(`deployment ${namespace}/${name} has no sluice proxy yet; the webhook injects it`);
  }
  const template = injectProxy(
    renameConfigRefs(candidate, renames),
    {
      ref: { kind: 'Deployment', namespace, name },
      port: config.port ?? undefined,
      revision,
      protocol: settings.protocol,
      nativeSidecar: settings.nativeSidecar,
      role: 'canary',
    },
    settings,
  );
  const ports = proxyPorts(template);
  if (ports === null) throw new Error(`the canary template of ${namespace}/${name} has no proxy port`);
  const firstWeight = config.iterations !== null ? 0 : (config.weights[0] ?? config.maxWeight);
  const replicas = canaryReplicas(config, primary.spec?.replicas ?? 1, firstWeight);
  const deployment = canaryDeployment({ primary, template, revision, replicas });
  await world.rest.apply(apiPath('apps/v1', 'deployments', namespace, canaryName(name)), deployment);
  await world.rest.apply(
    apiPath('v1', 'services', namespace, canaryName(name)),
    canaryService(primary, ports),
  );
}

/**
 * Scales the canary to its share of the primary at `weight`, so that its pods carry about as much load
 * each as the primary's; an HPA or `kubectl scale` of the primary is followed at the next step or tick.
 */
export async function scaleCanary(
  target: ReleaseTarget,
  config: CanaryConfig,
  weight: number,
): Promise<void> {
  const { world, namespace, name } = target;
  const canary = world.deployment(namespace, canaryName(name));
  if (canary === undefined) return;
  const want = canaryReplicas(config, deploymentOf(target).spec?.replicas ?? 1, weight);
  if ((canary.spec?.replicas ?? 1) === want) return;
  await world.rest.patch(apiPath('apps/v1', 'deployments', namespace, canaryName(name)), 'merge', {
    spec: { replicas: want },
  });
}

/** Deletes the canary's Deployment, Service and config copies. */
export async function deleteCanary(target: ReleaseTarget): Promise<void> {
  const { world, namespace, name } = target;
  await world.rest.delete(apiPath('apps/v1', 'deployments', namespace, canaryName(name)));
  await world.rest.delete(apiPath('v1', 'services', namespace, canaryName(name)));
  const selector = `${CANARY_OF_LABEL}=${name}`;
  for (const plural of ['configmaps', 'secrets']) {
    const copies = await world.rest.list(apiPath('v1', plural, namespace), selector);
    for (const copy of copies.items) {
      await world.rest.delete(apiPath('v1', plural, namespace, copy.metadata?.name));
    }
  }
}
