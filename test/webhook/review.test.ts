import { describe, expect, it } from 'vitest';
import { ForgedPromotionDenial } from '../../webhook/denials.js';
import { readReview, reviewResponse, type Decision } from '../../webhook/review.js';
import { deployment, gvk, request } from './support.js';

const review = (req: unknown) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: req,
});

describe('reading an AdmissionReview', () => {
  it('takes a review with the fields it reads, and keeps the others', () => {
    const value = review(request({ operation: 'CREATE', object: deployment(), dryRun: true }));
    const read = readReview({ ...value, extra: 1 });
    expect(read.ok && read.review).toEqual({ ...value, extra: 1 });
  });

  it('says every place where a review is wrong', () => {
    const read = readReview({
      apiVersion: 'admission.k8s.io/v1beta1',
      kind: 'AdmissionReview',
      request: { uid: '', kind: gvk('Deployment'), operation: 'PATCH' },
    });
    expect(read.ok || read.issues.map(({ path, message }) => ({ path, message }))).toEqual([
      { path: ['apiVersion'], message: 'apiVersion must be admission.k8s.io/v1' },
      { path: ['request', 'uid'], message: 'request.uid is empty' },
      {
        path: ['request', 'operation'],
        message: expect.stringContaining('"CREATE"|"UPDATE"|"DELETE"|"CONNECT"') as unknown,
      },
    ]);
  });
});

describe('answering an AdmissionReview', () => {
  const ref = { kind: 'Deployment', namespace: 'shop', name: 'web' };
  const patch = [
    { op: 'add' as const, path: '/metadata/annotations/sluice.dev~1candidate', value: 'H4sIAAAA+/=' },
    {
      op: 'replace' as const,
      path: '/spec/template/spec/containers/0/image',
      value: 'shop/web:1.0 "é\u2028',
    },
    { op: 'remove' as const, path: '/metadata/annotations/sluice.dev~1promote' },
  ];
  const decisions: Decision[] = [
    { allowed: true, patch: [] },
    { allowed: true, patch },
    { allowed: false, denial: new ForgedPromotionDenial(ref, 'alice "x"') },
  ];

  it('echoes the uid and carries the patch as base64 JSON Patch, or the denial as a Status', () => {
    const patched = reviewResponse('u"1', { allowed: true, patch });
    expect(patched).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    expect(patched.response).toMatchObject({ uid: 'u"1', allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(patched.response.patch ?? '', 'base64').toString('utf8'))).toEqual(patch);
    const denied = reviewResponse('u2', decisions[2] as Decision).response;
    expect(denied.allowed).toBe(false);
    expect(denied.status).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect(denied.status?.message).toContain('alice "x"');
    expect(reviewResponse('u3', { allowed: true, patch: [] }).response).toEqual({ uid: 'u3', allowed: true });
  });
});
