import {
  ANNOTATIONS,
  LABELS,
  MANAGED_ANNOTATIONS,
  PAUSED_BY_SLUICE,
  defaultCanaryConfig,
  parseCanaryAnnotations,
} from '../annotations.js';
import type { SealKey } from '../candidate.js';
import { appPortNames, isInjected, proxyPorts } from '../injection/read.js';
import { removeInjection } from '../injection/remove.js';
import {
  CANARY_API_VERSION,
  CANARY_PLURAL,
  newCanaryObject,
  readCanaryStatus,
  setCondition,
  type CanaryObject,
  type CanaryStatus,
  type Condition,
} from '../kube/canary-object.js';
import { Informer } from '../kube/informer.js';
import {
  canaryName,
  CANARY_SUFFIX,
  configRefs,
  servicesBypassingProxy,
  type ConfigKind,
  type ConfigObject,
  type DeploymentObject,
  type ServiceObject,
} from '../kube/objects.js';
import { templateChangedAt } from '../kube/changed-at.js';
import { recordEvent } from '../kube/events.js';
import { KubePlatform } from '../kube/platform.js';
import { isLegacyHold, legacyConversionPatch } from '../kube/release-view.js';
import type { KubeWorld } from '../kube/world.js';
import { apiPath, isConflict, type KubeRest } from '../kube/rest.js';
import type { Logger } from '../log.js';
import type { MetricsProvider } from '../metrics/provider.js';
import { canaryShare } from '../release/machine.js';
import { noticesOf, type ReleaseNotice } from '../notify/notices.js';
import { NotLeaderError, ReleaseRunner } from '../release/runner.js';
import type { RouteStore } from '../routes/server.js';
import { escapePointer } from '../json-pointer.js';
import { revision } from '../revision.js';
import { routeCanarySchema } from '../routes/table.js';
import type { ControllerMetrics } from './metrics.js';

/**
 * `sluice controller`'s loop (DESIGN.md, "The release state machine"): every replica watches Deployments,
 * Canaries, tracked configs and Services, and serves each Deployment's route from its Canary's status; the
 * leader also steps every opted-in Deployment's release, on each watch event and every tick, one step at
 * a time per Deployment. All state is in the Canary objects and annotations, so a new leader carries on
 * where the old one stopped.
 */

export interface ControllerOptions {
  rest: KubeRest;
  /** Only this namespace; all namespaces when undefined. */
  watchNamespace: string | undefined;
  routes: RouteStore;
  provider: MetricsProvider;
  sealKey: SealKey | undefined;
  canaryUrlTemplate: string;
  identity: string;
  logger: Logger;
  metrics: ControllerMetrics;
  /** Posts release notices to chat (src/notify); none when unset. Must return at once. */
  notify?: (notice: ReleaseNotice) => void;
  /**
   * Whether the Lease is still this replica's by its own clock (LeaderElector.isLeader), asked before every
   * step and every write: `setLeading` is only called when the elector's next attempt runs, which a stalled
   * process runs late.
   */
  holdsLease?: () => boolean;
  /** How often each release is stepped without a watch event (readiness, due checks) [1 s]. */
  tickMs?: number;
  now?: () => number;
}

interface Remembered {
  status: CanaryStatus;
  resourceVersion: string | undefined;
}

const TRACK_RETRY_MS = 30_000;
/** A Service name is a DNS label, as is the canary-of label's value. */
const MAX_NAME = 63;
const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export class Controller {
  readonly deployments: Informer<DeploymentObject>;
  readonly canaries: Informer<CanaryObject>;
  private readonly configMaps: Informer<ConfigObject>;
  private readonly secrets: Informer<ConfigObject>;
  private readonly services: Informer<ServiceObject>;
  private readonly informers: Informer<never>[];
  private leading = false;
  /** The leader's own view of each status it wrote: the cache may lag behind its last write. */
  private readonly memory = new Map<string, Remembered>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly lastTrackAttempt = new Map<string, number>();
  /** The last warning emitted per Deployment and kind, so that each is sent once, not every tick. */
  private readonly warned = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly world: KubeWorld;
  private readonly now: () => number;

  constructor(private readonly options: ControllerOptions) {
    const { rest, watchNamespace: ns, logger } = options;
    this.now = options.now ?? Date.now;
    const tracked = `${LABELS.tracked}=true`;
    this.deployments = new Informer(rest, apiPath('apps/v1', 'deployments', ns), logger);
    this.canaries = new Informer(rest, apiPath(CANARY_API_VERSION, CANARY_PLURAL, ns), logger);
    this.configMaps = new Informer(rest, apiPath('v1', 'configmaps', ns), logger, tracked);
    this.secrets = new Informer(rest, apiPath('v1', 'secrets', ns), logger, tracked);
    this.services = new Informer(rest, apiPath('v1', 'services', ns), logger);
    this.informers = [
      this.deployments,
      this.canaries,
      this.configMaps,
      this.secrets,
      this.services,
    ] as never[];
    this.world = {
      rest,
      deployment: (namespace, name) => this.deployments.get(name, namespace),
      config: (kind, namespace, name) =>
        (kind === 'ConfigMap' ? this.configMaps : this.secrets).get(name, namespace),
      routes: options.routes,
      sealKey: options.sealKey,
      canaryUrlTemplate: options.canaryUrlTemplate,
      identity: options.identity,
      logger,
    };

    this.canaries.onChange((canary, kind) => this.serveRoute(canary, kind));
    this.deployments.onChange((deployment) => {
      const { namespace = 'default', name = '' } = deployment.metadata ?? {};
      this.kick(keyOf(namespace, name.replace(/-canary$/, '')));
      this.kick(keyOf(namespace, name));
    });
    const configChanged = (config: ConfigObject): void => {
      const namespace = config.metadata?.namespace ?? 'default';
      for (const deployment of this.deployments.list(namespace)) {
        const template = deployment.spec?.template;
        if (template !== undefined && configRefs(template).some((r) => r.name === config.metadata?.name)) {
          this.kick(keyOf(namespace, deployment.metadata?.name ?? ''));
        }
      }
    };
    this.configMaps.onChange(configChanged);
    this.secrets.onChange(configChanged);
  }

  get isReady(): boolean {
    return this.informers.every((informer) => informer.isSynced);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get mayAct(): boolean {
    return this.leading && (this.options.holdsLease?.() ?? true);
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.start()));
    this.timer = setInterval(() => this.tickAll(), this.options.tickMs ?? 1_000);
  }

  /** Called by leader election. A new leader forgets what it knew: another replica may have written since. */
  setLeading(leading: boolean): void {
    this.leading = leading;
    this.memory.clear();
    this.options.metrics.leader.set(leading ? 1 : 0);
    if (leading) this.tickAll();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.leading = false;
    await Promise.allSettled([...this.running.values()]);
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  /** Every replica serves routes; the table is the Canary's status.route, validated as the proxy would. */
  private serveRoute(canary: CanaryObject, kind: 'add' | 'update' | 'delete'): void {
    const namespace = canary.metadata?.namespace ?? 'default';
    const name = canary.spec?.targetRef?.name ?? canary.metadata?.name ?? '';
    const route = kind === 'delete' ? null : (canary.status?.['route'] ?? null);
    const parsed = route === null ? null : routeCanarySchema.safeParse(route);
    if (parsed !== null && !parsed.success) {
      this.options.logger.warn({ namespace, deployment: name, err: parsed.error }, 'canaryRouteInvalid');
      return;
    }
    this.options.routes.set(namespace, name, parsed === null ? null : parsed.data);
  }

  private tickAll(): void {
    if (!this.mayAct || !this.isReady) return;
    const keys = new Set<string>();
    for (const deployment of this.deployments.list()) {
      if (deployment.metadata?.annotations?.[ANNOTATIONS.canary] !== undefined) {
        keys.add(keyOf(deployment.metadata.namespace ?? 'default', deployment.metadata.name ?? ''));
      }
    }
    for (const canary of this.canaries.list()) {
      keys.add(keyOf(canary.metadata?.namespace ?? 'default', canary.metadata?.name ?? ''));
    }
    for (const key of keys) this.kick(key);
  }

  /** Steps one Deployment's release, never two steps of one at once; a kick during a step runs one more. */
  private kick(key: string): void {
    if (!this.mayAct || !this.isReady) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    const [namespace = '', name = ''] = key.split('/');
    const { reconciles } = this.options.metrics;
    const run = this.reconcile(namespace, name)
      .then(() => reconciles.inc({ result: 'done' }))
      .catch((err: unknown) => {
        this.memory.delete(key);
        if (err instanceof NotLeaderError) {
          reconciles.inc({ result: 'stopped' });
          this.options.logger.info({ namespace, deployment: name, write: err.write }, 'stepStoppedNotLeader');
          return;
        }
        reconciles.inc({ result: 'failed' });
        this.options.logger.warn({ err, namespace, deployment: name }, 'reconcileFailed');
      })
      .finally(() => {
        this.running.delete(key);
        if (this.dirty.delete(key)) this.kick(key);
      });
    this.running.set(key, run);
  }

  private async reconcile(namespace: string, name: string): Promise<void> {
    const { logger, metrics } = this.options;
    const key = keyOf(namespace, name);
    const deployment = this.deployments.get(name, namespace);
    const canary = this.canaries.get(name, namespace);
    if (deployment === undefined) {
      // Its Canary and canary objects are owned by it: the garbage collector removes them.
      this.memory.delete(key);
      metrics.forget(namespace, name);
      return;
    }
    if (deployment.metadata?.labels?.[LABELS.role] === 'canary') return;

    const annotations = deployment.metadata?.annotations ?? {};
    const optedIn = annotations[ANNOTATIONS.canary] === 'enabled';
    const parsed = parseCanaryAnnotations(annotations);
    if (optedIn && !parsed.ok) {
      // The webhook denies such a change; this one got past it (installed later, or failurePolicy Ignore).
      const message = `sluice.dev annotations are invalid, the release waits until they are fixed: ${parsed.errors.map((e) => e.message).join('; ')}`;
      await this.warnOnce(deployment, 'InvalidAnnotations', 'ChangeDenied', message);
      return;
    }
    if (optedIn && canaryName(name).length > MAX_NAME) {
      const message = `deployment ${namespace}/${name} cannot be canaried: its canary Service ${canaryName(name)} would be longer than ${MAX_NAME} characters; use a Deployment name of at most ${MAX_NAME - CANARY_SUFFIX.length}`;
      await this.warnOnce(deployment, 'name', 'NameTooLong', message);
      return;
    }
    const config = parsed.ok ? parsed.config : { ...defaultCanaryConfig(), enabled: false };
    if (canary === undefined && !optedIn) return;

    if (optedIn && isLegacyHold(deployment)) {
      await this.convertLegacyHold(deployment);
      return;
    }

    if (optedIn && (await this.changeNotHeld(deployment))) return;

    // Deleted by hand: what is remembered must not stand in for it, or the unchanged status is never
    // written and the Canary never made again.
    if (canary === undefined) this.memory.delete(key);
    let remembered = this.memory.get(key);
    if (remembered === undefined) {
      const fresh =
        canary === undefined ? await this.createCanary(deployment) : await this.readCanary(namespace, name);
      remembered = {
        status: readCanaryStatus(fresh, this.now()),
        resourceVersion: fresh.metadata?.resourceVersion,
      };
    }
    if (optedIn) await this.trackConfigs(deployment);

    const before = remembered.status;
    const proxyReachable = await this.proxyReachable(deployment, before);
    const platform = new KubePlatform({
      world: this.world,
      namespace,
      name,
      config,
      previous: before,
      conditions: setCondition(before.conditions, proxyReachable, this.now()),
      resourceVersion: remembered.resourceVersion,
      onRecorded: (recorded) => {
        this.memory.set(key, recorded);
        metrics.observe(namespace, name, before, recorded.status, this.now());
      },
      now: this.now,
    });
    const runner = new ReleaseRunner({
      target: { namespace, deployment: name },
      config,
      platform,
      provider: this.options.provider,
      logger,
      status: remembered.status,
      now: this.now,
      mayAct: () => this.mayAct,
      onStep: (step) => {
        metrics.observeStep(namespace, name, step, templateChangedAt(deployment));
        const notices = noticesOf({ namespace, deployment: name }, config.notifications, step);
        for (const notice of notices) this.options.notify?.(notice);
      },
      readConfigMap: (configMap) => this.configMapData(namespace, configMap),
    });
    try {
      await runner.tick();
    } catch (err) {
      if (isConflict(err)) this.memory.delete(key);
      throw err;
    }
    // The step's status, as stored: tick() throws when it could not be.
    const current = runner.status;
    if (!this.mayAct) throw new NotLeaderError('scaling the canary');
    const routedPhase = ['Mirroring', 'Progressing', 'WaitingPromotion', 'Paused'].includes(current.phase);
    if (current.routedAt !== null && routedPhase) {
      // The primary may have been scaled since the last step (kubectl scale, an HPA).
      await platform.scaleCanary(canaryShare(current, config));
    }
    const phase = current.phase;
    if (!optedIn && (phase === 'Initialized' || phase === 'Succeeded' || phase === 'Failed')) {
      await this.optedOut(deployment);
    }
  }

  /**
   * A Deployment held by a webhook of the earlier design (candidate in an annotation, stable template in
   * the spec) gets its candidate written into the spec; the webhook pauses it, and the release goes on.
   */
  private async convertLegacyHold(deployment: DeploymentObject): Promise<void> {
    const { namespace = 'default', name = '' } = deployment.metadata ?? {};
    const patch = legacyConversionPatch(deployment, this.options.sealKey);
    await this.options.rest.patch(apiPath('apps/v1', 'deployments', namespace, name), 'json', patch);
    this.options.logger.info({ namespace, deployment: name }, 'legacyHoldConverted');
  }

  /**
   * A template that is neither the stable revision nor the held candidate was admitted without the webhook:
   * it was unreachable while its failurePolicy is Ignore (docs/faults.md). With nothing held, the change
   * rolls out to the primary as written, unanalysed; a canary of it now would test what already runs, so
   * it is taken as the stable revision instead, and said so. With a release running, the release waits:
   * the spec is no longer the candidate the canary runs, until the webhook sees the Deployment again.
   * Returns true when the release must not be stepped now.
   */
  private async changeNotHeld(deployment: DeploymentObject): Promise<boolean> {
    const { namespace = 'default', name = '' } = deployment.metadata ?? {};
    const annotations = deployment.metadata?.annotations ?? {};
    const stable = annotations[MANAGED_ANNOTATIONS.stableRevision];
    const template = deployment.spec?.template;
    if (stable === undefined || template === undefined || !isInjected(template)) return false;
    const pausedBySluice = annotations[MANAGED_ANNOTATIONS.pausedBy] === PAUSED_BY_SLUICE;
    const held = pausedBySluice ? annotations[MANAGED_ANNOTATIONS.candidateRevision] : undefined;
    const live = revision(removeInjection(template));
    if (live === (held ?? stable)) {
      this.warned.delete(`${namespace}/${name}/notHeld`);
      return false;
    }
    const bypassed = `deployment ${namespace}/${name} changed to revision ${live} without the sluice webhook (it was unreachable while its failurePolicy is Ignore)`;
    if (held !== undefined) {
      const message = `${bypassed}, while revision ${held} is being released: the release waits until the webhook admits the Deployment again (any change, e.g. kubectl annotate deployment/${name} sluice.dev/action=resume)`;
      await this.warnOnce(deployment, 'notHeld', 'ChangeNotHeld', message);
      return true;
    }
    const message = `${bypassed}, so it rolls out to the primary as written, without canary analysis; sluice takes it as the stable revision. Keep the webhook reachable (2 replicas, PodDisruptionBudget) or set failurePolicy: Fail to canary every change`;
    await this.warnOnce(deployment, 'notHeld', 'ChangeNotHeld', message);
    await this.options.rest.patch(apiPath('apps/v1', 'deployments', namespace, name), 'json', [
      { op: 'test', path: '/metadata/resourceVersion', value: deployment.metadata?.resourceVersion },
      {
        op: 'replace',
        path: `/metadata/annotations/${escapePointer(MANAGED_ANNOTATIONS.stableRevision)}`,
        value: live,
      },
    ]);
    this.options.logger.info({ namespace, deployment: name, revision: live }, 'unheldChangeTakenAsStable');
    return true;
  }

  /** A ConfigMap's data, read when a check needs it (metric templates): not cached, so an edit counts at once. */
  private async configMapData(namespace: string, name: string): Promise<Record<string, string> | null> {
    const found = await this.options.rest.getOrNull<ConfigObject>(
      apiPath('v1', 'configmaps', namespace, name),
    );
    return found === null ? null : (found.data ?? {});
  }

  private async readCanary(namespace: string, name: string): Promise<CanaryObject> {
    return this.options.rest.get<CanaryObject>(apiPath(CANARY_API_VERSION, CANARY_PLURAL, namespace, name));
  }

  private async createCanary(deployment: DeploymentObject): Promise<CanaryObject> {
    const { namespace = 'default', name = '' } = deployment.metadata ?? {};
    try {
      const created = await this.options.rest.create<CanaryObject>(
        apiPath(CANARY_API_VERSION, CANARY_PLURAL, namespace),
        newCanaryObject(deployment),
      );
      this.options.logger.info({ namespace, deployment: name }, 'canaryCreated');
      return created;
    } catch (err) {
      if (!isConflict(err)) throw err;
      return this.readCanary(namespace, name);
    }
  }

  /**
   * Labels the ConfigMaps and Secrets the templates use with sluice.dev/tracked, so that the webhook holds
   * their changes too. One that does not exist (yet) is tried again later.
   */
  private async trackConfigs(deployment: DeploymentObject): Promise<void> {
    const { namespace = 'default', name = '' } = deployment.metadata ?? {};
    const template = deployment.spec?.template;
    if (template === undefined) return;
    for (const ref of configRefs(template)) {
      if (this.world.config(ref.kind, namespace, ref.name) !== undefined) continue;
      const attemptKey = `${namespace}/${ref.kind}/${ref.name}`;
      if (this.now() - (this.lastTrackAttempt.get(attemptKey) ?? 0) < TRACK_RETRY_MS) continue;
      this.lastTrackAttempt.set(attemptKey, this.now());
      const path = apiPath('v1', ref.kind === 'ConfigMap' ? 'configmaps' : 'secrets', namespace, ref.name);
      const found = await this.options.rest.getOrNull(path);
      if (found === null) continue;
      await this.options.rest.patch(path, 'merge', { metadata: { labels: { [LABELS.tracked]: 'true' } } });
      this.options.logger.info(
        { namespace, deployment: name, kind: ref.kind, config: ref.name },
        'configTracked',
      );
    }
  }

  /** Opted out and no release running: the Canary goes, and configs no other opted-in Deployment uses are untracked. */
  private async optedOut(deployment: DeploymentObject): Promise<void> {
    const { rest, logger } = this.options;
    const { namespace = 'default', name = '' } = deployment.metadata ?? {};
    const stillUsed = new Set<string>();
    for (const other of this.deployments.list(namespace)) {
      if (other.metadata?.name === name || other.metadata?.annotations?.[ANNOTATIONS.canary] !== 'enabled')
        continue;
      for (const ref of configRefs(other.spec?.template ?? { spec: { containers: [] } })) {
        stillUsed.add(`${ref.kind}/${ref.name}`);
      }
    }
    const status = this.memory.get(keyOf(namespace, name))?.status;
    for (const ref of status?.trackedConfigs ?? []) {
      if (stillUsed.has(`${ref.kind}/${ref.name}`)) continue;
      const plural = ref.kind === 'ConfigMap' ? 'configmaps' : 'secrets';
      await rest
        .patch(apiPath('v1', plural, namespace, ref.name), 'merge', {
          metadata: { labels: { [LABELS.tracked]: null } },
        })
        .catch((err: unknown) => logger.warn({ err, namespace, config: ref.name }, 'untrackFailed'));
    }
    await rest.delete(apiPath(CANARY_API_VERSION, CANARY_PLURAL, namespace, name));
    this.memory.delete(keyOf(namespace, name));
    this.options.metrics.forget(namespace, name);
    logger.info({ namespace, deployment: name }, 'optedOutCleanedUp');
  }

  /** ProxyReachable: the proxy is in the template, no Service goes around it, and its metrics can be read. */
  private async proxyReachable(
    deployment: DeploymentObject,
    status: CanaryStatus,
  ): Promise<Omit<Condition, 'lastTransitionTime'>> {
    const { namespace = 'default', name = '' } = deployment.metadata ?? {};
    const template = deployment.spec?.template;
    if (template === undefined || !isInjected(template)) {
      return {
        type: 'ProxyReachable',
        status: 'False',
        reason: 'ProxyNotInjected',
        message: `deployment ${namespace}/${name} has no sluice-proxy container: check that the sluice webhook is installed and sluice.dev/canary is enabled`,
      };
    }
    const ports = proxyPorts(template);
    const bypassing =
      ports === null
        ? []
        : servicesBypassingProxy(
            this.services.list(namespace),
            template.metadata?.labels ?? {},
            ports.appPort,
            appPortNames(template, ports.appPort),
          );
    if (ports !== null && bypassing.length > 0) {
      const message = `Service ${bypassing.join(', ')} sends traffic to the app's port ${ports.appPort} directly, past the sluice proxy, so it is never split or measured: set its targetPort to ${ports.portName}`;
      await this.warnOnce(deployment, 'bypass', 'ServiceBypassesProxy', message);
      return { type: 'ProxyReachable', status: 'False', reason: 'ServiceBypassesProxy', message };
    }
    this.warned.delete(`${namespace}/${name}/bypass`);
    const error = status.lastAnalysis?.error;
    if (error?.code === 'ProviderUnreachable') {
      return {
        type: 'ProxyReachable',
        status: 'False',
        reason: 'MetricsUnreachable',
        message: error.message,
      };
    }
    return {
      type: 'ProxyReachable',
      status: 'True',
      reason: 'ProxyInjected',
      message: 'the sluice proxy fronts every pod and every Service of the Deployment',
    };
  }

  private async warnOnce(
    deployment: DeploymentObject,
    kind: string,
    reason: string,
    message: string,
  ): Promise<void> {
    const { namespace = 'default', name = '' } = deployment.metadata ?? {};
    const key = `${namespace}/${name}/${kind}`;
    if (this.warned.get(key) === message) return;
    this.warned.set(key, message);
    this.options.logger.warn({ namespace, deployment: name, reason, message }, 'releaseWarning');
    await recordEvent(this.world, deployment, { type: 'Warning', reason, message }, this.now());
  }
}

export type { ConfigKind };
