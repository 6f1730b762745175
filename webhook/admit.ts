import {
  ANNOTATIONS,
  LABELS,
  MANAGED_ANNOTATIONS,
  PAUSED_BY_SLUICE,
  parseCanaryAnnotations,
  TLS_PROTOCOLS,
  type CanaryConfig,
} from '../src/annotations.js';
import { CandidateTooLargeError, encodeCandidate, type SealKey } from '../src/candidate.js';
import { injectProxy, InjectionError, type ProxySettings } from '../src/injection/inject.js';
import { findProxy, isInjected } from '../src/injection/read.js';
import { removeInjection } from '../src/injection/remove.js';
import type { z } from 'zod';
import {
  configObjectSchema,
  deploymentSchema,
  type ConfigObject,
  type Deployment,
  type ObjectMeta,
} from '../src/pod-template.js';
import { dataRevision, revision } from '../src/revision.js';
import {
  CandidateTooLargeDenial,
  InvalidAnnotationsDenial,
  Denial,
  ForgedPromotionDenial,
  injectionDenial,
  NativeSidecarUnsupportedDenial,
  PromotionMismatchDenial,
  SealKeyMissingDenial,
  TemplatesNeedPrometheusDenial,
  TlsAppPortDenial,
  UnpauseDenial,
  type ObjectRef,
} from './denials.js';
import { diff, type PatchOperation } from './patch.js';
import type { AdmissionRequest, Decision } from './review.js';

/**
 * What the webhook answers to one admission request (DESIGN.md, "Held changes" and "Injection"). Pure: no
 * API calls, no clock, no randomness, so the same request always gets the same answer, dryRun or not.
 */

export interface AdmitConfig {
  /** The only user whose `sluice.dev/promote` is accepted. */
  controllerIdentity: string;
  proxy: ProxySettings;
  /** Seals held Secret data; without it, a change to a tracked Secret is denied. */
  sealKey: SealKey | undefined;
  /**
   * Where the controller reads metrics: with `direct`, objectives that name metric templates (PromQL) are
   * denied. Unset: not checked.
   */
  metricsProvider?: 'direct' | 'prometheus';
  /** Where the proxy goes when a Deployment does not say [an ordinary container, never refused]. */
  nativeSidecar?: NativeSidecarPolicy;
}

/** The webhook's `--native-sidecar`, resolved against the cluster's version when it started. */
export interface NativeSidecarPolicy {
  /** The placement of a Deployment without `sluice.dev/native-sidecar`. */
  byDefault: boolean;
  /** The API server's version when it is known to lack native sidecars: asking for one is denied. */
  unsupportedVersion?: string;
}

const ORDINARY_CONTAINER: NativeSidecarPolicy = { byDefault: false };

const {
  stableRevision: STABLE_REVISION,
  candidateRevision: CANDIDATE_REVISION,
  candidate: CANDIDATE,
  promote: PROMOTE,
  pausedBy: PAUSED_BY,
} = MANAGED_ANNOTATIONS;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The object in a review is not what its kind says: the review is malformed (HTTP 400), not denied. */
export class MalformedObjectError extends Error {
  readonly code = 'MalformedObject';
  constructor(field: string, issues: readonly z.core.$ZodIssue[]) {
    const first = issues[0];
    const where =
      first === undefined ? '' : ` at ${[field, ...first.path.map(String)].join('.')}: ${first.message}`;
    super(`request.${field} is not a valid object of the request's kind${where}`);
    this.name = 'MalformedObjectError';
  }
}

const ALLOW: Decision = { allowed: true, patch: [] };

export function admit(request: AdmissionRequest, config: AdmitConfig): Decision {
  if (request.subResource !== undefined && request.subResource !== '') return ALLOW;
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return ALLOW;
  const { group, kind } = request.kind;
  try {
    if (group === 'apps' && kind === 'Deployment') return admitDeployment(request, config);
    if (group === '' && (kind === 'ConfigMap' || kind === 'Secret'))
      return admitConfig(request, kind, config);
    return ALLOW;
  } catch (err) {
    if (err instanceof Denial) return { allowed: false, denial: err };
    if (err instanceof InjectionError) return { allowed: false, denial: injectionDenial(err) };
    throw err;
  }
}

/**
 * The object checked against its schema, and then used as it came rather than as zod's copy: the patch is
 * the difference from what the API server sent.
 */
function read<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new MalformedObjectError(field, result.error.issues);
  return value as T;
}

function refOf(kind: string, meta: ObjectMeta, request: AdmissionRequest): ObjectRef {
  return {
    kind,
    namespace: meta.namespace ?? request.namespace,
    name: meta.name ?? request.name ?? meta.generateName ?? '',
  };
}

/**
 * The canary configuration of an opted-in Deployment, or undefined when it is not opted in. Only an
 * opted-in Deployment has its sluice.dev annotations checked; a `sluice.dev/canary` that is neither
 * `enabled` nor `disabled` is checked too, since its author meant something by it.
 */
function readCanary(ref: ObjectRef, annotations: Record<string, string>): CanaryConfig | undefined {
  const opt = annotations[ANNOTATIONS.canary];
  if (opt === undefined || opt === 'disabled') return undefined;
  const protocol = annotations[ANNOTATIONS.protocol]?.trim();
  if (protocol !== undefined && TLS_PROTOCOLS.includes(protocol.toLowerCase()))
    throw new TlsAppPortDenial(ref, ANNOTATIONS.protocol, protocol);
  const parsed = parseCanaryAnnotations(annotations);
  if (!parsed.ok)
    throw new InvalidAnnotationsDenial(
      ref,
      parsed.errors.map((e) => e.message),
    );
  return parsed.config.enabled ? parsed.config : undefined;
}

/** The held change of a ConfigMap or Secret as its managed annotations carry it. */
interface Held {
  revision: string;
  payload: string;
}

function heldIn(annotations: Record<string, string>): Held | undefined {
  const rev = annotations[CANDIDATE_REVISION];
  const payload = annotations[CANDIDATE];
  return rev === undefined || payload === undefined ? undefined : { revision: rev, payload };
}

/**
 * A `kubectl apply` of a ConfigMap or Secret whose result is the stable data again: the user has reverted,
 * and the held change is dropped. Any other write that leaves the data alone (a label, sluice's own
 * writes) keeps it: the stored data is always the stable one, so only the applied manifest tells a revert
 * from an unrelated edit.
 */
function reverted(annotations: Record<string, string>, old: Record<string, string>): boolean {
  return annotations[LAST_APPLIED] !== undefined && annotations[LAST_APPLIED] !== old[LAST_APPLIED];
}

/** The managed annotations as the decision says, whatever the request carried; the others as they came. */
function withManaged(
  annotations: Record<string, string> | undefined,
  managed: Partial<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(annotations ?? {})) {
    if (!MANAGED_KEYS.has(key)) out[key] = value;
  }
  for (const [key, value] of Object.entries(managed)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

const MANAGED_KEYS: ReadonlySet<string> = new Set([
  PROMOTE,
  CANDIDATE,
  CANDIDATE_REVISION,
  STABLE_REVISION,
  PAUSED_BY,
]);

function checkPromotion(
  request: AdmissionRequest,
  ref: ObjectRef,
  marker: string,
  actual: string,
  config: AdmitConfig,
): void {
  const user = request.userInfo?.username ?? '';
  if (user !== config.controllerIdentity) throw new ForgedPromotionDenial(ref, user);
  if (marker !== actual) throw new PromotionMismatchDenial(ref, marker, actual);
}

function encodeHeld(ref: ObjectRef, value: unknown, key?: SealKey): string {
  try {
    return encodeCandidate(value, key);
  } catch (err) {
    if (err instanceof CandidateTooLargeError)
      throw new CandidateTooLargeDenial(ref, err.message, { cause: err });
    throw err;
  }
}

const isPausedBySluice = (annotations: Record<string, string>): boolean =>
  annotations[PAUSED_BY] === PAUSED_BY_SLUICE;

/**
 * A Deployment (DESIGN.md, "Held changes"): its template is always admitted as written, with the proxy
 * injected. A template whose revision is not the stable one is a candidate: the Deployment is paused, so
 * its pods stay on the stable ReplicaSet while the controller runs the canary, and the spec keeps saying
 * what the user asked for. The stable template back, from any client, ends the hold and unpauses.
 */
function admitDeployment(request: AdmissionRequest, config: AdmitConfig): Decision {
  const object = read(deploymentSchema, request.object, 'object');
  const old =
    request.operation === 'UPDATE' ? read(deploymentSchema, request.oldObject, 'oldObject') : undefined;
  // The controller's `<name>-canary` Deployment carries the proxy and sluice's annotations on purpose, and
  // must never be treated as an opted-out one whose proxy is to be removed.
  if (object.metadata.labels?.[LABELS.role] === 'canary') return ALLOW;
  const ref = refOf('Deployment', object.metadata, request);
  const annotations = object.metadata.annotations ?? {};
  const canary = readCanary(ref, annotations);
  if (canary === undefined) return optedOut(object);
  const templates = canary.objectives.filter((o) => o.metric === 'custom').map((o) => o.name);
  if (config.metricsProvider === 'direct' && templates.length > 0)
    throw new TemplatesNeedPrometheusDenial(ref, ANNOTATIONS.objectives, templates);

  const template = removeInjection(object.spec.template);
  const candidate = revision(template);
  const oldAnnotations = old?.metadata.annotations ?? {};
  const wasOptedIn = old !== undefined && oldAnnotations[ANNOTATIONS.canary] === 'enabled';
  const held =
    wasOptedIn && isPausedBySluice(oldAnnotations) ? oldAnnotations[CANDIDATE_REVISION] : undefined;
  // Opting in admits the template as it comes: there is no stable version to compare it with yet. A
  // template the Deployment already had, with nothing held, is what its pods run: a change admitted while
  // the webhook was unreachable under failurePolicy Ignore. It is stable now, not a candidate to hold on
  // the next unrelated update (docs/faults.md).
  const unchangedUnheld =
    wasOptedIn && held === undefined && revision(removeInjection(old.spec.template)) === candidate;
  const stable =
    wasOptedIn && !unchangedUnheld
      ? (oldAnnotations[STABLE_REVISION] ?? revision(old.spec.template))
      : candidate;
  const paused = object.spec['paused'] === true;

  const marker = annotations[PROMOTE];
  // While sluice holds a candidate, and when a revert ends the hold, the proxy stays where it was: the pods
  // run the stable ReplicaSet, and a revert must land on that ReplicaSet's template exactly, or unpausing
  // would roll every pod for nothing. Elsewhere (a promotion rolls the pods anyway) it moves as asked.
  const holding = marker === undefined && wasOptedIn && (held !== undefined || candidate !== stable);
  const wanted = nativeSidecarWanted(ref, canary, config.nativeSidecar ?? ORDINARY_CONTAINER);
  const kept = holding ? findProxy(old.spec.template)?.nativeSidecar : undefined;

  const out = shallowCopy(object);
  out.spec.template = injectProxy(
    template,
    {
      ref,
      port: canary.port ?? undefined,
      revision: candidate,
      protocol: canary.protocol,
      nativeSidecar: kept ?? wanted,
    },
    config.proxy,
  );
  if (marker !== undefined) {
    // The controller promotes by unpausing with the marker: the candidate in the spec becomes stable.
    checkPromotion(request, ref, marker, candidate, config);
    out.metadata.annotations = withManaged(annotations, { [STABLE_REVISION]: candidate });
  } else if (candidate === stable) {
    if (held !== undefined && paused) out.spec['paused'] = false;
    // Held under the earlier design (the stable template kept, the candidate in an annotation): kept until
    // the controller converts it, unless a `kubectl apply` reverted it, the one revert that design saw.
    const legacy = reverted(annotations, oldAnnotations) ? undefined : heldIn(oldAnnotations);
    out.metadata.annotations = withManaged(annotations, {
      [STABLE_REVISION]: stable,
      [CANDIDATE_REVISION]: legacy?.revision,
      [CANDIDATE]: legacy?.payload,
    });
  } else {
    if (held === candidate && !paused) throw new UnpauseDenial(ref, candidate);
    out.spec['paused'] = true;
    out.metadata.annotations = withManaged(annotations, {
      [STABLE_REVISION]: stable,
      [CANDIDATE_REVISION]: candidate,
      [PAUSED_BY]: PAUSED_BY_SLUICE,
    });
  }
  return { allowed: true, patch: deploymentPatch(object, out) };
}

/** The Deployment's `sluice.dev/native-sidecar`, else the webhook's default; true on a cluster without them is denied. */
function nativeSidecarWanted(ref: ObjectRef, canary: CanaryConfig, policy: NativeSidecarPolicy): boolean {
  if (canary.nativeSidecar === true && policy.unsupportedVersion !== undefined)
    throw new NativeSidecarUnsupportedDenial(ref, ANNOTATIONS.nativeSidecar, policy.unsupportedVersion);
  return canary.nativeSidecar ?? policy.byDefault;
}

/**
 * The patch between the request's Deployment and the admitted one, from the parts admission writes (the
 * annotations, the template, `paused`): comparing the rest, managedFields and status among it, would only
 * find them equal, and was a third of the diff's time.
 */
function deploymentPatch(object: Deployment, out: Deployment): PatchOperation[] {
  const written = (d: Deployment) => ({
    metadata: d.metadata.annotations === undefined ? {} : { annotations: d.metadata.annotations },
    spec: {
      template: d.spec.template,
      ...(d.spec['paused'] !== undefined && { paused: d.spec['paused'] }),
    },
  });
  return diff(written(object), written(out));
}

/**
 * A copy of the levels admission replaces (the metadata's annotations, the spec's template and `paused`);
 * everything below them is shared with the request's object, which is never changed. A deep copy of the
 * whole Deployment, managedFields and all, was half of an admission's time.
 */
function shallowCopy(object: Deployment): Deployment {
  return { ...object, metadata: { ...object.metadata }, spec: { ...object.spec } };
}

/**
 * A Deployment that is not opted in is left exactly as it came, unless sluice was in it: then the proxy and
 * sluice's annotations come out, and a pause sluice set is lifted, so the template rolls out as written.
 */
function optedOut(object: Deployment): Decision {
  const annotations = object.metadata.annotations ?? {};
  const touched =
    isInjected(object.spec.template) || Object.keys(annotations).some((k) => MANAGED_KEYS.has(k));
  if (!touched) return ALLOW;
  const out = shallowCopy(object);
  out.spec.template = removeInjection(object.spec.template);
  out.metadata.annotations = withManaged(annotations, {});
  if (isPausedBySluice(annotations) && object.spec['paused'] === true) out.spec['paused'] = false;
  return { allowed: true, patch: deploymentPatch(object, out) };
}

function admitConfig(request: AdmissionRequest, kind: 'ConfigMap' | 'Secret', config: AdmitConfig): Decision {
  if (request.operation !== 'UPDATE') return ALLOW;
  const object = read(configObjectSchema, request.object, 'object');
  if (object.metadata.labels?.[LABELS.tracked] !== 'true') return ALLOW;
  const old = read(configObjectSchema, request.oldObject, 'oldObject');
  const ref = refOf(kind, object.metadata, request);
  const annotations = object.metadata.annotations ?? {};
  const oldAnnotations = old.metadata.annotations ?? {};
  const out: ConfigObject = { ...object, metadata: { ...object.metadata } };

  const candidate = dataRevision(object);
  let stable = oldAnnotations[STABLE_REVISION] ?? dataRevision(old);
  let held: Held | undefined;
  const marker = annotations[PROMOTE];
  if (marker !== undefined) {
    checkPromotion(request, ref, marker, candidate, config);
    stable = marker;
  } else if (candidate === stable) {
    held = reverted(annotations, oldAnnotations) ? undefined : heldIn(oldAnnotations);
  } else {
    const key = kind === 'Secret' ? config.sealKey : undefined;
    if (kind === 'Secret' && key === undefined) throw new SealKeyMissingDenial(ref);
    const payload = { revision: candidate, data: object.data ?? {}, binaryData: object.binaryData ?? {} };
    held = { revision: candidate, payload: encodeHeld(ref, payload, key) };
    restoreData(out, old);
  }
  out.metadata.annotations = withManaged(annotations, {
    [STABLE_REVISION]: stable,
    [CANDIDATE_REVISION]: held?.revision,
    [CANDIDATE]: held?.payload,
  });
  return { allowed: true, patch: diff(object, out) };
}

function restoreData(out: ConfigObject, old: ConfigObject): void {
  if (old.data === undefined) delete out.data;
  else out.data = old.data;
  if (old.binaryData === undefined) delete out.binaryData;
  else out.binaryData = old.binaryData;
}
