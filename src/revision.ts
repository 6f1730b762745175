import { hash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { normaliseTemplate } from './injection/remove.js';
import type { PodTemplate } from './pod-template.js';

/**
 * Revisions (DESIGN.md, "Revisions"): the first 10 hex characters of sha256 over canonical JSON of the
 * normalised pod template and the data of the tracked ConfigMaps and Secrets. The webhook and the controller
 * both call this, so that they name a version alike.
 */

export const REVISION_LENGTH = 10;

export interface TrackedConfig {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  data?: Readonly<Record<string, string>> | undefined;
  binaryData?: Readonly<Record<string, string>> | undefined;
}

/** One call, no Hash object to make and free: `crypto.hash` is Node's one-shot digest. */
const sha256 = (text: string): string => hash('sha256', text, 'hex');

/** sha256 over a ConfigMap's or Secret's `data` and `binaryData`. */
export function dataDigest(config: Pick<TrackedConfig, 'data' | 'binaryData'>): string {
  return sha256(canonicalJson({ data: config.data ?? {}, binaryData: config.binaryData ?? {} }));
}

/** The revision of a ConfigMap's or Secret's own data, as its `sluice.dev/*-revision` annotations hold. */
export function dataRevision(config: Pick<TrackedConfig, 'data' | 'binaryData'>): string {
  return dataDigest(config).slice(0, REVISION_LENGTH);
}

/**
 * The revision of a release: the hash of the canonical JSON of `{ template, configs }`, the template
 * normalised. The webhook, which makes no API calls, passes no configs: the revisions it writes on a
 * Deployment are those of the template alone.
 */
export function revision(template: PodTemplate, configs: readonly TrackedConfig[] = []): string {
  const tracked = [...configs]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : 1))
    .map((c) => ({ ref: `${c.kind}/${c.name}`, digest: dataDigest(c) }));
  const hashed = canonicalJson({ configs: tracked, template: normaliseTemplate(template) });
  return sha256(hashed).slice(0, REVISION_LENGTH);
}

/** A tracked ConfigMap or Secret as a release names it: its own data revision. */
export interface ConfigRevision {
  readonly kind: 'ConfigMap' | 'Secret';
  readonly name: string;
  readonly revision: string;
}

/**
 * The revision of a release that spans a template and the configs it uses, from their own revisions (the
 * webhook's `sluice.dev/*-revision` annotations), so that the controller never re-hashes a template it read
 * back from the API. With no tracked configs it is the template's revision itself.
 */
export function releaseRevision(templateRevision: string, configs: readonly ConfigRevision[]): string {
  if (configs.length === 0) return templateRevision;
  const tracked = [...configs]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : 1))
    .map((c) => ({ ref: `${c.kind}/${c.name}`, revision: c.revision }));
  return sha256(canonicalJson({ template: templateRevision, configs: tracked })).slice(0, REVISION_LENGTH);
}
