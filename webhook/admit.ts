import {
  ANNOTATIONS,
  LABELS,
  canaryAnnotationReader,
  MANAGED_ANNOTATIONS,
  type CanaryConfig,
} from '../src/annotations.js';
import { CandidateTooLargeError, encodeCandidateJson, type SealKey } from '../src/candidate.js';
import { removeInjection, RESTARTED_AT } from '../src/injection.js';
import {
  configObjectShape,
  deploymentShape,
  type ConfigObject,
  type Deployment,
  type ObjectMeta,
  type PodTemplate,
} from '../src/pod-template.js';
import { dataRevision, revision, templateRevision } from '../src/revision.js';
import { explain, type Shape, type ShapeIssue } from '../src/shape.js';
import {
  CandidateTooLargeDenial,
  InvalidAnnotationsDenial,
  Denial,
  ForgedPromotionDenial,
  PromotionMismatchDenial,
  SealKeyMissingDenial,
  type ObjectRef,
} from './denials.js';
import { injectProxy, type ProxySettings } from './inject.js';
import { diff } from './patch.js';
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
}

const {
  stableRevision: STABLE_REVISION,
  candidateRevision: CANDIDATE_REVISION,
  candidate: CANDIDATE,
  promote: PROMOTE,
} = MANAGED_ANNOTATIONS;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The object in a review is not what its kind says: the review is malformed (HTTP 400), not denied. */
export class MalformedObjectError extends Error {
  readonly code = 'MalformedObject';
  constructor(field: string, issues: readonly ShapeIssue[]) {
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
    throw err;
  }
}

/** The object as its shape says, not copied: admission never changes it, it builds what differs. */
function read<T>(shape: Shape<T>, value: unknown, field: string): T {
  if (!shape(value)) throw new MalformedObjectError(field, explain(shape, value));
  return value;
}

function refOf(kind: string, meta: ObjectMeta, request: AdmissionRequest): ObjectRef {
  return {
    kind,
    namespace: meta.namespace ?? request.namespace,
    name: meta.name ?? request.name ?? meta.generateName ?? '',
  };
}

const readCanaryAnnotations = canaryAnnotationReader();

/**
 * The canary configuration of an opted-in Deployment, or undefined when it is not opted in. Only an
 * opted-in Deployment has its sluice.dev annotations checked; a `sluice.dev/canary` that is neither
 * `enabled` nor `disabled` is checked too, since its author meant something by it.
 */
function readCanary(ref: ObjectRef, annotations: Record<string, string>): CanaryConfig | undefined {
  const opt = annotations[ANNOTATIONS.canary];
  if (opt === undefined || opt === 'disabled') return undefined;
  const parsed = readCanaryAnnotations(annotations);
  if (!parsed.ok)
    throw new InvalidAnnotationsDenial(
      ref,
      parsed.errors.map((e) => e.message),
    );
  return parsed.config.enabled ? parsed.config : undefined;
}

/** The held change as the managed annotations carry it. */
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
 * A `kubectl apply` whose result is the stable version again: the user has reverted, and the held change is
 * dropped. Any other write that leaves the template alone (a label, `kubectl edit` of replicas, sluice's own
 * action annotations) keeps it: the stored template is always the stable one, so only the applied manifest
 * tells a revert from an unrelated edit.
 */
function reverted(annotations: Record<string, string>, old: Record<string, string>): boolean {
  return annotations[LAST_APPLIED] !== undefined && annotations[LAST_APPLIED] !== old[LAST_APPLIED];
}

/** Sets the managed annotations to what the decision says, whatever the request carried. */
function setManaged(meta: ObjectMeta, stable: string | undefined, held: Held | undefined): void {
  const managed = new Set<string>([PROMOTE, CANDIDATE, CANDIDATE_REVISION, STABLE_REVISION]);
  const annotations = Object.fromEntries(
    Object.entries(meta.annotations ?? {}).filter(([key]) => !managed.has(key)),
  );
  if (stable !== undefined) annotations[STABLE_REVISION] = stable;
  if (held !== undefined) {
    annotations[CANDIDATE_REVISION] = held.revision;
    annotations[CANDIDATE] = held.payload;
  }
  if (Object.keys(annotations).length === 0) delete meta.annotations;
  else meta.annotations = annotations;
}

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

function encodeHeld(ref: ObjectRef, json: string, key?: SealKey): string {
  try {
    return encodeCandidateJson(json, key);
  } catch (err) {
    if (err instanceof CandidateTooLargeError)
      throw new CandidateTooLargeDenial(ref, err.message, { cause: err });
    throw err;
  }
}

/**
 * The held candidate's JSON: `{ revision, template }`, the template as its author wrote it (the proxy taken
 * out). That is the normalised template whose canonical JSON the revision was just taken from, so the text is
 * reused, unless the template carries `kubectl rollout restart`'s stamp, which normalising drops and the
 * candidate keeps.
 */
function heldTemplateJson(revision: string, bare: PodTemplate, normalisedJson: string): string {
  return bare.metadata?.annotations?.[RESTARTED_AT] === undefined
    ? `{"revision":${JSON.stringify(revision)},"template":${normalisedJson}}`
    : JSON.stringify({ revision, template: bare });
}

function admitDeployment(request: AdmissionRequest, config: AdmitConfig): Decision {
  const object = read(deploymentShape, request.object, 'object');
  const old =
    request.operation === 'UPDATE' ? read(deploymentShape, request.oldObject, 'oldObject') : undefined;
  // The controller's `<name>-canary` Deployment carries the proxy and sluice's annotations on purpose, and
  // must never be treated as an opted-out one whose proxy is to be removed.
  if (object.metadata.labels?.[LABELS.role] === 'canary') return ALLOW;
  const ref = refOf('Deployment', object.metadata, request);
  const annotations = object.metadata.annotations ?? {};
  // Only the metadata's annotations and the template are replaced (never changed in place), so copies of
  // the levels above them are enough: a deep copy of the whole object was a fifth of each admission.
  const out: Deployment = { ...object, metadata: { ...object.metadata }, spec: { ...object.spec } };
  const canary = readCanary(ref, annotations);

  if (canary === undefined) {
    out.spec.template = removeInjection(object.spec.template);
    setManaged(out.metadata, undefined, undefined);
    return { allowed: true, patch: diff(object, out) };
  }

  const template = object.spec.template;
  const bare = removeInjection(template);
  // Normalising takes injection out again: for a template without it, that is the template itself, no copy.
  const { revision: candidate, normalisedJson } = templateRevision(bare);
  const oldAnnotations = old?.metadata.annotations ?? {};
  const inject = (proxyFree: typeof template, rev: string) =>
    injectProxy(proxyFree, { ref, port: canary.port ?? undefined, revision: rev }, config.proxy);

  let stable: string;
  let held: Held | undefined;
  if (old === undefined || oldAnnotations[ANNOTATIONS.canary] !== 'enabled') {
    // Opting in admits the template as it comes: there is no stable version to compare it with yet.
    stable = candidate;
    out.spec.template = inject(bare, stable);
  } else {
    stable = oldAnnotations[STABLE_REVISION] ?? revision(old.spec.template);
    const marker = annotations[PROMOTE];
    if (marker !== undefined) {
      checkPromotion(request, ref, marker, candidate, config);
      stable = marker;
      out.spec.template = inject(bare, stable);
    } else if (candidate === stable) {
      out.spec.template = inject(bare, stable);
      held = reverted(annotations, oldAnnotations) ? undefined : heldIn(oldAnnotations);
    } else {
      out.spec.template = inject(removeInjection(old.spec.template), stable);
      held = {
        revision: candidate,
        payload: encodeHeld(ref, heldTemplateJson(candidate, bare, normalisedJson)),
      };
    }
  }
  setManaged(out.metadata, stable, held);
  return { allowed: true, patch: diff(object, out) };
}

function admitConfig(request: AdmissionRequest, kind: 'ConfigMap' | 'Secret', config: AdmitConfig): Decision {
  if (request.operation !== 'UPDATE') return ALLOW;
  const object = read(configObjectShape, request.object, 'object');
  if (object.metadata.labels?.[LABELS.tracked] !== 'true') return ALLOW;
  const old = read(configObjectShape, request.oldObject, 'oldObject');
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
    held = {
      revision: candidate,
      payload: encodeHeld(
        ref,
        JSON.stringify({ revision: candidate, data: object.data ?? {}, binaryData: object.binaryData ?? {} }),
        key,
      ),
    };
    restoreData(out, old);
  }
  setManaged(out.metadata, stable, held);
  return { allowed: true, patch: diff(object, out) };
}

function restoreData(out: ConfigObject, old: ConfigObject): void {
  if (old.data === undefined) delete out.data;
  else out.data = old.data;
  if (old.binaryData === undefined) delete out.binaryData;
  else out.binaryData = old.binaryData;
}
