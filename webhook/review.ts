import { z } from 'zod';
import type { Denial } from './denials.js';
import type { PatchOperation } from './patch.js';

/** The `admission.k8s.io/v1` AdmissionReview, as much of it as the webhook reads. */

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export const admissionRequestSchema = z.looseObject({
  uid: z.string().min(1, 'request.uid is empty'),
  kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z.looseObject({ username: z.string().optional() }).optional(),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
});

export const admissionReviewSchema = z.looseObject({
  apiVersion: z.literal(ADMISSION_API_VERSION, `apiVersion must be ${ADMISSION_API_VERSION}`),
  kind: z.literal('AdmissionReview', 'kind must be AdmissionReview'),
  request: admissionRequestSchema,
});

export type AdmissionRequest = z.infer<typeof admissionRequestSchema>;
export type AdmissionReview = z.infer<typeof admissionReviewSchema>;

export interface ReviewIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** The review in a parsed body, or what is wrong with it, every place at once. */
export function readReview(
  value: unknown,
): { ok: true; review: AdmissionReview } | { ok: false; issues: readonly ReviewIssue[] } {
  const parsed = admissionReviewSchema.safeParse(value);
  return parsed.success ? { ok: true, review: parsed.data } : { ok: false, issues: parsed.error.issues };
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
