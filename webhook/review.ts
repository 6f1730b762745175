import { z } from 'zod';
import type { Denial } from './denials.js';
import type { PatchOperation } from './patch.js';

/** The `admission.k8s.io/v1` AdmissionReview, as much of it as the webhook reads. */

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

const groupVersionKind = z.object({ group: z.string(), version: z.string(), kind: z.string() });

export const admissionRequestSchema = z.looseObject({
  uid: z.string().min(1, 'request.uid is empty'),
  kind: groupVersionKind,
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

export type Decision = { allowed: true; patch: PatchOperation[] } | { allowed: false; denial: Denial };

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    patchType?: 'JSONPatch';
    patch?: string;
    status?: { code: number; reason: string; message: string };
  };
}

export function reviewResponse(uid: string, decision: Decision): AdmissionReviewResponse {
  const response: AdmissionReviewResponse['response'] = { uid, allowed: decision.allowed };
  if (decision.allowed) {
    if (decision.patch.length > 0) {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
    }
  } else {
    const { denial } = decision;
    response.status = { code: denial.status, reason: denial.reason, message: denial.message };
  }
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
