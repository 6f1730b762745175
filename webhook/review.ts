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

/** The AdmissionReview that answers `uid`: the patch as base64 JSON Patch, a denial as a Status. */
export function reviewResponse(uid: string, decision: Decision): AdmissionReviewResponse {
  const response: AdmissionReviewResponse['response'] = { uid, allowed: decision.allowed };
  if (!decision.allowed) {
    const { status: code, reason, message } = decision.denial;
    response.status = { code, reason, message };
  } else if (decision.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; reason: string; message: string };
    patchType?: 'JSONPatch';
    patch?: string;
  };
}
