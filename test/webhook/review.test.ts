import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ForgedPromotionDenial } from '../../webhook/denials.js';
import { readReview, reviewResponse, reviewResponseJson, type Decision } from '../../webhook/review.js';
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
  it('writes the text JSON.stringify would, patch or not', () => {
    const ref = { kind: 'Deployment', namespace: 'shop', name: 'web' };
    const decisions: Decision[] = [
      { allowed: true, patch: [] },
      {
        allowed: true,
        patch: [
          { op: 'add', path: '/metadata/annotations/sluice.dev~1candidate', value: 'H4sIAAAA+/=' },
          { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'shop/web:1.0 "é\u2028' },
          { op: 'remove', path: '/metadata/annotations/sluice.dev~1promote' },
        ],
      },
      { allowed: false, denial: new ForgedPromotionDenial(ref, 'alice') },
    ];
    for (const uid of ['0d6c1e7a-3b2f-4c9d-8e1a-5f4b3c2d1e0f', 'a"b\\c\u2028']) {
      for (const decision of decisions) {
        expect(reviewResponseJson(uid, decision)).toBe(JSON.stringify(reviewResponse(uid, decision)));
      }
    }
  });
});
