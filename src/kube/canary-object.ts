import { canonicalJson } from '../canonical-json.js';
import { initialStatus, PHASES, type Phase, type ReleaseStatus } from '../release/status.js';
import type { RouteCanary } from '../routes/table.js';
import type { ConfigRef, DeploymentObject } from './objects.js';
import { ownerReference } from './objects.js';
import type { KubeObject } from './rest.js';

/**
 * The `Canary` object (DESIGN.md, "The Canary object"): one per opted-in Deployment, holding the release's
 * whole state in its status, so that any controller replica, or a restarted one, carries on from it.
 */

/** The CRD's group, version and plural (manifests/crd.yaml), for the controller and the operator commands. */
export const CANARY_RESOURCE = { group: 'sluice.dev', version: 'v1alpha1', plural: 'canaries' } as const;
export const CANARY_API_VERSION = `${CANARY_RESOURCE.group}/${CANARY_RESOURCE.version}`;
export const CANARY_PLURAL = CANARY_RESOURCE.plural;

export type ConditionType = 'Promoted' | 'ProxyReachable';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** What the controller writes to `status`: the release status, plus what only Kubernetes needs. */
export interface CanaryStatus extends ReleaseStatus {
  readonly trackedConfigs: readonly ConfigRef[];
  /** The route table every replica serves to the primaries' proxies; null: all traffic local. */
  readonly route: RouteCanary | null;
  readonly conditions: readonly Condition[];
  readonly observedGeneration?: number;
}

export interface CanaryObject extends KubeObject {
  spec?: { targetRef?: { name?: string } };
  status?: Record<string, unknown>;
}

/** A new Canary for a Deployment, owned by it (deleted with it). */
export function newCanaryObject(deployment: DeploymentObject): CanaryObject {
  const name = deployment.metadata?.name ?? '';
  return {
    apiVersion: CANARY_API_VERSION,
    kind: 'Canary',
    metadata: {
      name,
      namespace: deployment.metadata?.namespace ?? 'default',
      ownerReferences: [ownerReference(deployment)],
    },
    spec: { targetRef: { name } },
  };
}

const isPhase = (value: unknown): value is Phase => PHASES.includes(value as Phase);
const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/**
 * The status as the machine wants it from what the API holds. The API server drops null fields, so an
 * absent one reads as null; anything unreadable reads as a fresh release rather than failing the loop.
 */
export function readCanaryStatus(object: CanaryObject | undefined, now: number): CanaryStatus {
  const raw = object?.status ?? {};
  const fresh = initialStatus(now);
  const route = raw['route'];
  return {
    phase: isPhase(raw['phase']) ? raw['phase'] : fresh.phase,
    canaryWeight: num(raw['canaryWeight']),
    failedChecks: num(raw['failedChecks']),
    iterations: num(raw['iterations']),
    mirrorChecks: num(raw['mirrorChecks']),
    stableRevision: str(raw['stableRevision']),
    candidateRevision: str(raw['candidateRevision']),
    failedRevision: str(raw['failedRevision']),
    startedAt: str(raw['startedAt']),
    routedAt: str(raw['routedAt']),
    lastCheckAt: str(raw['lastCheckAt']),
    pausedAt: str(raw['pausedAt']),
    pausedMs: num(raw['pausedMs']),
    lastAnalysis: (raw['lastAnalysis'] as ReleaseStatus['lastAnalysis'] | undefined) ?? null,
    checkHistory: Array.isArray(raw['checkHistory'])
      ? (raw['checkHistory'] as ReleaseStatus['checkHistory'])
      : [],
    outcome: (raw['outcome'] as ReleaseStatus['outcome'] | undefined) ?? null,
    lastTransitionTime: str(raw['lastTransitionTime']) ?? fresh.lastTransitionTime,
    trackedConfigs: Array.isArray(raw['trackedConfigs']) ? (raw['trackedConfigs'] as ConfigRef[]) : [],
    route: route !== null && typeof route === 'object' ? (route as RouteCanary) : null,
    conditions: Array.isArray(raw['conditions']) ? (raw['conditions'] as Condition[]) : [],
    ...(typeof raw['observedGeneration'] === 'number' && { observedGeneration: raw['observedGeneration'] }),
  };
}

/** The status as written: null fields left out (the API server would drop them anyway). */
export function writeCanaryStatus(status: CanaryStatus): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(status)) {
    if (value !== null && value !== undefined) out[key] = value;
  }
  out['route'] = status.route;
  return out;
}

/** Whether writing `next` over `previous` would leave the Canary's status as it is. */
export function sameCanaryStatus(previous: CanaryStatus, next: CanaryStatus): boolean {
  return canonicalJson(writeCanaryStatus(previous)) === canonicalJson(writeCanaryStatus(next));
}

/** Sets one condition, keeping its transition time when its status is unchanged. */
export function setCondition(
  conditions: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: number,
): Condition[] {
  const current = conditions.find((c) => c.type === next.type);
  const lastTransitionTime =
    current !== undefined && current.status === next.status
      ? current.lastTransitionTime
      : new Date(now).toISOString();
  return [...conditions.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }].sort((a, b) =>
    a.type.localeCompare(b.type),
  );
}

/** `Promoted`, as `kubectl wait --for=condition=Promoted` reads it: True once the last release succeeded. */
export function promotedCondition(status: ReleaseStatus): Omit<Condition, 'lastTransitionTime'> {
  switch (status.phase) {
    case 'Succeeded':
      return {
        type: 'Promoted',
        status: 'True',
        reason: 'Succeeded',
        message: `revision ${status.stableRevision ?? 'none'} is promoted`,
      };
    case 'Failed':
      return {
        type: 'Promoted',
        status: 'False',
        reason: 'Failed',
        message: `revision ${status.failedRevision ?? 'none'} was rolled back`,
      };
    case 'Initialized':
      if (status.outcome?.reason === 'Reverted') {
        return {
          type: 'Promoted',
          status: 'False',
          reason: 'Reverted',
          message: `revision ${status.outcome.revision} was not promoted: ${status.outcome.message}`,
        };
      }
      return {
        type: 'Promoted',
        status: 'True',
        reason: 'Initialized',
        message: `revision ${status.stableRevision ?? 'none'} is stable; no release is running`,
      };
    default:
      return {
        type: 'Promoted',
        status: 'False',
        reason: status.phase,
        message: `revision ${status.candidateRevision ?? 'none'} is being released`,
      };
  }
}
