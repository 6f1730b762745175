import { MANAGED_ANNOTATIONS } from '../annotations.js';
import { CandidateUnreadableError, decodeCandidate, type SealKey } from '../candidate.js';
import { escapePointer } from '../json-pointer.js';
import type { PodTemplate } from '../pod-template.js';
import { dataRevision, releaseRevision, type ConfigRevision } from '../revision.js';
import {
  configRefs,
  type ConfigKind,
  type ConfigObject,
  type ConfigRef,
  type DeploymentObject,
} from './objects.js';

/**
 * What a step sees of a release: the stable and held revisions of a Deployment's template and of the
 * configs it reads, and the held data itself.
 */

const {
  stableRevision: STABLE,
  candidateRevision: CANDIDATE_REVISION,
  candidate: CANDIDATE,
} = MANAGED_ANNOTATIONS;

/** The held change could not be read (a sealed Secret without the key, a corrupt payload). */
export class CandidateUnavailableError extends Error {
  readonly code = 'CandidateUnavailable';
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super(`the held change of ${what} cannot be used: ${reason}`, options);
    this.name = 'CandidateUnavailableError';
  }
}

export interface HeldConfig {
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

const revisionOf = (config: HeldConfig, revision: string): ConfigRevision => ({
  kind: config.ref.kind,
  name: config.ref.name,
  revision,
});

/** Data a config has never had a change held for: its revision as the webhook would compute it. */
const dataRevisionOf = (object: ConfigObject): string =>
  dataRevision({ data: object.data, binaryData: object.binaryData });

/** The data of a config's held change, decoded (and unsealed, for a Secret's). */
export function heldData(
  held: HeldConfig,
  sealKey: SealKey | undefined,
  release: { namespace: string; name: string },
): { data: Record<string, string>; binaryData: Record<string, string> } {
  const payload = held.candidate?.payload ?? '';
  let decoded: { data?: Record<string, string>; binaryData?: Record<string, string> };
  try {
    decoded = decodeCandidate(payload, sealKey) as typeof decoded;
  } catch (err) {
    const what = `${held.ref.kind} ${release.namespace}/${held.ref.name}`;
    throw new CandidateUnavailableError(
      `${what} ${release.namespace}/${release.name}`,
      (err as Error).message,
      { cause: err },
    );
  }
  return { data: decoded.data ?? {}, binaryData: decoded.binaryData ?? {} };
}
