import { randomBytes } from 'node:crypto';
import { ACTIONS, ANNOTATIONS, MANAGED_ANNOTATIONS, type Action, type CanaryConfig } from '../annotations.js';
import { CandidateUnreadableError, decodeCandidate, type SealKey } from '../candidate.js';
import { RESTARTED_AT, removeInjection } from '../injection.js';
import { escapePointer } from '../json-pointer.js';
import type { Logger } from '../log.js';
import type { PodTemplate } from '../pod-template.js';
import type { Platform } from '../platform/platform.js';
import type { Observations, ReleaseAction, ReleaseStatus, Route } from '../release/status.js';
import { dataRevision, releaseRevision, type ConfigRevision } from '../revision.js';
import type { RouteStore } from '../routes/server.js';
import type { RouteCanary } from '../routes/table.js';
import { injectProxy } from '../../webhook/inject.js';
import {
  CANARY_API_VERSION,
  CANARY_PLURAL,
  promotedCondition,
  sameCanaryStatus,
  setCondition,
  writeCanaryStatus,
  type CanaryStatus,
  type Condition,
} from './canary-object.js';
import {
  canaryDeployment,
  canaryName,
  canaryRevisionOf,
  canaryService,
  canaryUrl,
  CANARY_OF_LABEL,
  configCopy,
  configRefs,
  proxyPorts,
  proxySettingsOf,
  renameConfigRefs,
  rolloutComplete,
  type ConfigKind,
  type ConfigObject,
  type ConfigRef,
  type DeploymentObject,
} from './objects.js';
import { describeNotReady, podStartFailure, podsNotReady, type PodObject } from './pods.js';
import { apiPath, isConflict, type KubeRest } from './rest.js';

/**
 * The Kubernetes platform (STYLE.md: "a Platform that carries out release actions"): observes one opted-in
 * Deployment through the controller's caches and carries out the state machine's actions with API calls.
 * One is made for each step, from the caches as they are then.
 */

const {
  stableRevision: STABLE,
  candidateRevision: CANDIDATE_REVISION,
  candidate: CANDIDATE,
  promote: PROMOTE,
} = MANAGED_ANNOTATIONS;

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

/** The held change could not be read (a sealed Secret without the key, a corrupt payload). */
export class CandidateUnavailableError extends Error {
  readonly code = 'CandidateUnavailable';
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super(`the held change of ${what} cannot be used: ${reason}`, options);
    this.name = 'CandidateUnavailableError';
  }
}

/** An action named a revision that is no longer the candidate: the next step sees the new one. */
export class StaleRevisionError extends Error {
  readonly code = 'StaleRevision';
  constructor(asked: string, current: string | null) {
    super(`revision ${asked} is no longer the candidate (now ${current ?? 'none'})`);
    this.name = 'StaleRevisionError';
  }
}

interface HeldConfig {
  ref: ConfigRef;
  object: ConfigObject;
  stable: string;
  /** The held data's revision and payload, when a change is held. */
  candidate: { revision: string; payload: string } | null;
}

/** What a step sees of a release: the template and configs, stable and held. */
export interface ReleaseView {
  stableTemplateRevision: string | null;
  /**
   * The template's candidate revision while the webhook holds it (the Deployment paused with it in its
   * spec), else null: then the spec is the stable template.
   */
  heldTemplate: { revision: string } | null;
  configs: HeldConfig[];
  stableRevision: string | null;
  candidateRevision: string | null;
}

/** Reads the stable and held revisions off a Deployment and its tracked configs. */
export function viewRelease(
  deployment: DeploymentObject,
  lookup: (kind: ConfigKind, name: string) => ConfigObject | undefined,
): ReleaseView {
  const annotations = deployment.metadata?.annotations ?? {};
  const stableTemplateRevision = annotations[STABLE] ?? null;
  const heldRevision = annotations[CANDIDATE_REVISION];
  const heldTemplate =
    heldRevision !== undefined && heldRevision !== stableTemplateRevision && !isLegacyHold(deployment)
      ? { revision: heldRevision }
      : null;
  const template = deployment.spec?.template;
  const configs: HeldConfig[] = [];
  for (const ref of template === undefined ? [] : configRefs(template)) {
    const object = lookup(ref.kind, ref.name);
    if (object === undefined) continue;
    const own = object.metadata?.annotations ?? {};
    const stable = own[STABLE] ?? dataRevisionOf(object);
    const revision = own[CANDIDATE_REVISION];
    const payload = own[CANDIDATE];
    configs.push({
      ref,
      object,
      stable,
      candidate:
        revision !== undefined && payload !== undefined && revision !== stable ? { revision, payload } : null,
    });
  }
  const stableRevision =
    stableTemplateRevision === null
      ? null
      : releaseRevision(
          stableTemplateRevision,
          configs.map((c) => revisionOf(c, c.stable)),
        );
  const anyHeld = heldTemplate !== null || configs.some((c) => c.candidate !== null);
  const candidateRevision =
    !anyHeld || stableTemplateRevision === null
      ? null
      : releaseRevision(
          heldTemplate?.revision ?? stableTemplateRevision,
          configs.map((c) => revisionOf(c, c.candidate?.revision ?? c.stable)),
        );
  return { stableTemplateRevision, heldTemplate, configs, stableRevision, candidateRevision };
}

/**
 * A Deployment held under the earlier design: the stable template kept in the spec and the candidate in
 * `sluice.dev/candidate`. The controller converts it (see `convertLegacyHold`) before stepping it.
 */
export function isLegacyHold(deployment: DeploymentObject): boolean {
  return deployment.metadata?.annotations?.[CANDIDATE] !== undefined;
}

/**
 * The write that converts a Deployment held under the earlier design: the held template into the spec and
 * the payload annotation out. The webhook then holds it the current way (paused, candidate-revision), and
 * the release carries on with the same candidate revision.
 */
export function legacyConversionPatch(deployment: DeploymentObject, sealKey?: SealKey): unknown[] {
  const payload = deployment.metadata?.annotations?.[CANDIDATE] ?? '';
  const held = decodeCandidate(payload, sealKey) as { template?: PodTemplate };
  if (held.template === undefined) throw new CandidateUnreadableError('it holds no pod template');
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: deployment.metadata?.resourceVersion },
    { op: 'replace', path: '/spec/template', value: held.template },
    { op: 'remove', path: `/metadata/annotations/${escapePointer(CANDIDATE)}` },
  ];
}

/** The canary's replicas at a weight: its share of the primary's, at least one, unless pinned. */
export function canaryReplicas(config: CanaryConfig, primaryReplicas: number, weight: number): number {
  return config.canaryReplicas ?? Math.max(1, Math.ceil((primaryReplicas * weight) / 100));
}

const revisionOf = (config: HeldConfig, revision: string): ConfigRevision => ({
  kind: config.ref.kind,
  name: config.ref.name,
  revision,
});

/** Data a config has never had a change held for: its revision as the webhook would compute it. */
const dataRevisionOf = (object: ConfigObject): string =>
  dataRevision({ data: object.data, binaryData: object.binaryData });

export interface KubePlatformOptions {
  world: KubeWorld;
  namespace: string;
  name: string;
  config: CanaryConfig;
  /** The status as last recorded, with what only the Canary object holds. */
  previous: CanaryStatus;
  /** The Canary's resourceVersion when it was last read or written; guards against a second writer. */
  resourceVersion: string | undefined;
  now?: () => number;
}

export class KubePlatform implements Platform {
  private route: RouteCanary | null;
  private conditions: Condition[];
  /** What record() wrote, and the Canary's resourceVersion after it; null when it wrote nothing. */
  recorded: { status: CanaryStatus; resourceVersion: string | undefined } | null = null;
  private readonly now: () => number;

  constructor(private readonly options: KubePlatformOptions) {
    this.route = options.previous.route;
    this.conditions = [...options.previous.conditions];
    this.now = options.now ?? Date.now;
  }

  private get deployment(): DeploymentObject {
    const { world, namespace, name } = this.options;
    const found = world.deployment(namespace, name);
    if (found === undefined) throw new Error(`deployment ${namespace}/${name} is gone`);
    return found;
  }

  private get path(): string {
    return apiPath('apps/v1', 'deployments', this.options.namespace, this.options.name);
  }

  view(): ReleaseView {
    const { world, namespace } = this.options;
    return viewRelease(this.deployment, (kind, name) => world.config(kind, namespace, name));
  }

  async observe(): Promise<Omit<Observations, 'measurement'>> {
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
    switch (action.type) {
      case 'createCanary':
        return this.createCanary(action.revision);
      case 'setRoute':
        return this.setRoute(action.route);
      case 'promote':
        return this.promote(action.revision);
      case 'deleteCanary':
        return this.deleteCanary();
      case 'markFailed':
        // The failed revision is kept in status (failedRevision), where retry and the CLI read it.
        return;
      case 'clearAction':
        return this.clearAction(action.action);
      case 'event':
        return this.event(action.kind, action.reason, action.message);
    }
  }

  async record(status: ReleaseStatus): Promise<void> {
    const { world, namespace, name } = this.options;
    const now = this.now();
    this.conditions = setCondition(this.conditions, promotedCondition(status), now);
    const deployment = this.deployment;
    const full: CanaryStatus = {
      ...status,
      trackedConfigs: this.view().configs.map((c) => c.ref),
      route: this.route,
      conditions: this.conditions,
      observedGeneration: deployment.metadata?.generation ?? 0,
    };
    // Most ticks change nothing; writing anyway cost an API request and a watch event to every replica per
    // release per tick (500 releases: ~450 writes a second).
    if (this.options.resourceVersion !== undefined && sameCanaryStatus(this.options.previous, full)) return;
    const patch: unknown[] = [];
    if (this.options.resourceVersion !== undefined) {
      patch.push({ op: 'test', path: '/metadata/resourceVersion', value: this.options.resourceVersion });
    }
    patch.push({ op: 'add', path: '/status', value: writeCanaryStatus(full) });
    const written = await world.rest.patch(
      apiPath(CANARY_API_VERSION, CANARY_PLURAL, namespace, name, 'status'),
      'json',
      patch,
    );
    this.recorded = { status: full, resourceVersion: written.metadata?.resourceVersion };
  }

  /** Sets a condition that the controller, not the state machine, decides (ProxyReachable). */
  setCondition(condition: Omit<Condition, 'lastTransitionTime'>): void {
    this.conditions = setCondition(this.conditions, condition, this.now());
  }

  private decode(payload: string, what: string): unknown {
    try {
      return decodeCandidate(payload, this.options.world.sealKey);
    } catch (err) {
      throw new CandidateUnavailableError(
        `${what} ${this.options.namespace}/${this.options.name}`,
        (err as Error).message,
        { cause: err },
      );
    }
  }

  private ensureCandidate(revision: string): ReleaseView {
    const view = this.view();
    if (view.candidateRevision !== revision) throw new StaleRevisionError(revision, view.candidateRevision);
    return view;
  }

  private async createCanary(revision: string): Promise<void> {
    const { world, namespace, name, config } = this.options;
    const view = this.ensureCandidate(revision);
    const primary = this.deployment;
    const live = primary.spec?.template;
    if (live === undefined) throw new Error(`deployment ${namespace}/${name} has no pod template`);

    const renames = new Map<string, string>();
    for (const held of view.configs) {
      if (held.candidate === null) continue;
      const data = this.decode(held.candidate.payload, `${held.ref.kind} ${namespace}/${held.ref.name}`) as {
        data?: Record<string, string>;
        binaryData?: Record<string, string>;
      };
      const copy = configCopy(primary, held.object, held.ref.kind, {
        data: data.data ?? {},
        binaryData: data.binaryData ?? {},
      });
      const plural = held.ref.kind === 'ConfigMap' ? 'configmaps' : 'secrets';
      await world.rest.apply(apiPath('v1', plural, namespace, copy.metadata?.name), copy);
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

  private async setRoute(route: Route | null): Promise<void> {
    const { world, namespace, name } = this.options;
    if (route === null) {
      this.route = null;
    } else {
      const ports = proxyPorts(this.deployment.spec?.template);
      if (ports === null) throw new Error(`deployment ${namespace}/${name} has no sluice proxy`);
      this.route = {
        url: canaryUrl(world.canaryUrlTemplate, { name, namespace, port: ports.appPort }),
        weight: route.weight,
        match: [...route.match],
        segment: [...route.segment],
        sticky: route.sticky,
      };
    }
    // Served at once by this replica; the others pick it up from the Canary's status.
    world.routes.set(namespace, name, this.route);
    if (route !== null) await this.scaleCanary(route.weight);
  }

  /**
   * Scales the canary to its share of the primary at `weight`, so that its pods carry about as much load
   * each as the primary's; an HPA or `kubectl scale` of the primary is followed at the next step or tick.
   */
  async scaleCanary(weight: number): Promise<void> {
    const { world, namespace, name, config } = this.options;
    const canary = world.deployment(namespace, canaryName(name));
    if (canary === undefined) return;
    const want = canaryReplicas(config, this.deployment.spec?.replicas ?? 1, weight);
    if ((canary.spec?.replicas ?? 1) === want) return;
    await world.rest.patch(apiPath('apps/v1', 'deployments', namespace, canaryName(name)), 'merge', {
      spec: { replicas: want },
    });
  }

  /**
   * Writes the candidate into the primary with the promotion marker, configs first, so that the pods the
   * new template starts read the new data. A change of data alone restarts the primary's pods.
   */
  private async promote(revision: string): Promise<void> {
    const { world, namespace } = this.options;
    const view = this.ensureCandidate(revision);
    for (const held of view.configs) {
      if (held.candidate === null) continue;
      const data = this.decode(held.candidate.payload, `${held.ref.kind} ${namespace}/${held.ref.name}`) as {
        data?: Record<string, string>;
        binaryData?: Record<string, string>;
      };
      const plural = held.ref.kind === 'ConfigMap' ? 'configmaps' : 'secrets';
      // A JSON patch, not a merge patch: a key the candidate dropped must go, and a concurrent edit must fail.
      const patch: unknown[] = [
        { op: 'test', path: '/metadata/resourceVersion', value: held.object.metadata?.resourceVersion },
        { op: 'add', path: '/data', value: data.data ?? {} },
        {
          op: 'add',
          path: `/metadata/annotations/${escapePointer(PROMOTE)}`,
          value: held.candidate.revision,
        },
      ];
      if (held.ref.kind === 'ConfigMap')
        patch.push({ op: 'add', path: '/binaryData', value: data.binaryData ?? {} });
      await world.rest.patch(apiPath('v1', plural, namespace, held.ref.name), 'json', patch);
    }
    await this.withFreshDeployment(async (deployment) => {
      const patch: unknown[] = [
        { op: 'test', path: '/metadata/resourceVersion', value: deployment.metadata?.resourceVersion },
      ];
      if (view.heldTemplate !== null) {
        // The candidate is the spec already: unpausing with the marker lets the Deployment roll it out.
        patch.push({ op: 'add', path: '/spec/paused', value: false });
        patch.push({
          op: 'add',
          path: `/metadata/annotations/${escapePointer(PROMOTE)}`,
          value: view.heldTemplate.revision,
        });
      } else {
        const annotations = deployment.spec?.template?.metadata?.annotations;
        patch.push(
          annotations === undefined
            ? {
                op: 'add',
                path: '/spec/template/metadata/annotations',
                value: { [RESTARTED_AT]: new Date(this.now()).toISOString() },
              }
            : {
                op: 'add',
                path: `/spec/template/metadata/annotations/${escapePointer(RESTARTED_AT)}`,
                value: new Date(this.now()).toISOString(),
              },
        );
      }
      await world.rest.patch(this.path, 'json', patch);
    });
  }

  /** Runs a write against the Deployment as the API has it now, again on a conflict (409). */
  private async withFreshDeployment(write: (deployment: DeploymentObject) => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const deployment = await this.options.world.rest.get<DeploymentObject>(this.path);
      try {
        return await write(deployment);
      } catch (err) {
        if (!isConflict(err) || attempt === 5) throw err;
      }
    }
  }

  private async deleteCanary(): Promise<void> {
    const { world, namespace, name } = this.options;
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

  /** Removes `sluice.dev/action` once taken, unless someone has set another meanwhile. */
  private async clearAction(action: Action): Promise<void> {
    const key = escapePointer(ANNOTATIONS.action);
    try {
      await this.options.world.rest.patch(this.path, 'json', [
        { op: 'test', path: `/metadata/annotations/${key}`, value: action },
        { op: 'remove', path: `/metadata/annotations/${key}` },
      ]);
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }

  private async event(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const { world, namespace, name } = this.options;
    await recordEvent(world, this.deployment, { type, reason, message }, this.now());
    world.logger.info({ namespace, deployment: name, reason, eventType: type, message }, 'releaseEvent');
  }
}

/** A core/v1 Event on a Deployment, as `kubectl describe` and `kubectl events` show it. */
export async function recordEvent(
  world: Pick<KubeWorld, 'rest' | 'identity'>,
  deployment: DeploymentObject,
  event: { type: 'Normal' | 'Warning'; reason: string; message: string },
  now: number,
): Promise<void> {
  const namespace = deployment.metadata?.namespace ?? 'default';
  const name = deployment.metadata?.name ?? '';
  const time = new Date(now).toISOString();
  await world.rest.create(apiPath('v1', 'events', namespace), {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name,
      namespace,
      uid: deployment.metadata?.uid,
      resourceVersion: deployment.metadata?.resourceVersion,
    },
    type: event.type,
    reason: event.reason,
    message: event.message.slice(0, 1024),
    source: { component: 'sluice-controller' },
    reportingComponent: 'sluice.dev/controller',
    reportingInstance: world.identity,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  });
}
