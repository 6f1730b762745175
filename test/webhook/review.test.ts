import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ForgedPromotionDenial } from '../../webhook/denials.js';
import { readReview, reviewResponse, type Decision } from '../../webhook/review.js';
import { jsonFuzzer } from '../support/json-fuzz.js';
import { seededRandom } from '../support/random.js';
import { deployment, gvk, request } from './support.js';

/** The zod schema of the AdmissionReview that the shape replaced, as it was: the reference. */
const reviewSchema = z.looseObject({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }),
    subResource: z.string().optional(),
    name: z.string().optional(),
    namespace: z.string().optional(),
    operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
    userInfo: z.looseObject({ username: z.string().optional() }).optional(),
    object: z.unknown().optional(),
    oldObject: z.unknown().optional(),
    dryRun: z.boolean().optional(),
  }),
});

const review = (req: unknown) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: req,
});

describe('reading an AdmissionReview', () => {
  it('takes the review as it came, not a copy', () => {
    const value = review(request({ operation: 'CREATE', object: deployment(), dryRun: true }));
    const read = readReview(value);
    expect(read.ok && read.review).toBe(value);
  });

  it('says every place where a review is wrong', () => {
    const read = readReview({
      apiVersion: 'admission.k8s.io/v1beta1',
      kind: 'AdmissionReview',
      request: { uid: '', kind: gvk('Deployment'), operation: 'PATCH' },
    });
    expect(read.ok || read.issues).toEqual([
      { path: ['apiVersion'], message: 'apiVersion must be admission.k8s.io/v1' },
      { path: ['request', 'uid'], message: 'request.uid is empty' },
      { path: ['request', 'operation'], message: 'expected one of "CREATE"|"UPDATE"|"DELETE"|"CONNECT"' },
    ]);
  });

  it('accepts exactly what the zod schema it replaced accepted, on 20000 mutated reviews', () => {
    const random = seededRandom(20261203);
    const { pick, mutate, value } = jsonFuzzer(random);
    const seeds = [
      review(request({ operation: 'CREATE', object: deployment() })),
      review(
        request({
          kind: gvk('ConfigMap'),
          operation: 'UPDATE',
          subResource: '',
          name: 'c',
          namespace: 'shop',
          userInfo: { username: 'alice', groups: ['dev'] },
          object: { data: {} },
          oldObject: { data: {} },
          dryRun: false,
        }),
      ),
    ];
    const outcomes = { accepted: 0, refused: 0 };
    for (let i = 0; i < 20_000; i++) {
      const sent = random() < 0.95 ? mutate(pick(seeds)) : value();
      const expected = reviewSchema.safeParse(sent).success;
      if (readReview(sent).ok !== expected) expect.fail(`case ${i}: ${JSON.stringify(sent)}`);
      outcomes[expected ? 'accepted' : 'refused']++;
    }
    expect(outcomes.accepted).toBeGreaterThan(2_000);
    expect(outcomes.refused).toBeGreaterThan(2_000);
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
