import {
  boolean,
  explain,
  literal,
  looseObject,
  nonEmptyString,
  oneOf,
  optional,
  string,
  unknown,
  type Infer,
  type ShapeIssue,
} from '../src/shape.js';
import type { Denial } from './denials.js';
import type { PatchOperation } from './patch.js';

/** The `admission.k8s.io/v1` AdmissionReview, as much of it as the webhook reads. */

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

const groupVersionKind = looseObject({ group: string, version: string, kind: string });

export const admissionRequestShape = looseObject({
  uid: nonEmptyString('request.uid is empty'),
  kind: groupVersionKind,
  subResource: optional(string),
  name: optional(string),
  namespace: optional(string),
  operation: oneOf(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: optional(looseObject({ username: optional(string) })),
  object: optional(unknown),
  oldObject: optional(unknown),
  dryRun: optional(boolean),
});

export const admissionReviewShape = looseObject({
  apiVersion: literal(ADMISSION_API_VERSION, `apiVersion must be ${ADMISSION_API_VERSION}`),
  kind: literal('AdmissionReview', 'kind must be AdmissionReview'),
  request: admissionRequestShape,
});

export type AdmissionRequest = Infer<typeof admissionRequestShape>;
export type AdmissionReview = Infer<typeof admissionReviewShape>;

/** The review in a parsed body, or what is wrong with it, every place at once. */
export function readReview(
  value: unknown,
): { ok: true; review: AdmissionReview } | { ok: false; issues: ShapeIssue[] } {
  return admissionReviewShape(value)
    ? { ok: true, review: value }
    : { ok: false, issues: explain(admissionReviewShape, value) };
}

export type Decision = { allowed: true; patch: PatchOperation[] } | { allowed: false; denial: Denial };

/**
 * The AdmissionReview that answers `uid`, as JSON text, written directly rather than built as an object and
 * serialised: a patch that holds a change carries the compressed template, kilobytes of base64, which
 * JSON.stringify would scan character by character for escapes that base64 never needs. Only the uid and
 * a denial's status, which come from requests and messages, go through JSON.stringify.
 */
export function reviewResponseJson(uid: string, decision: Decision): string {
  const head =
    `{"apiVersion":"${ADMISSION_API_VERSION}","kind":"AdmissionReview","response":` +
    `{"uid":${JSON.stringify(uid)},"allowed":${decision.allowed}`;
  if (!decision.allowed) {
    const { status: code, reason, message } = decision.denial;
    return `${head},"status":${JSON.stringify({ code, reason, message })}}}`;
  }
  if (decision.patch.length === 0) return `${head}}}`;
  const patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  return `${head},"patchType":"JSONPatch","patch":"${patch}"}}`;
}
