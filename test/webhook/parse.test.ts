import { describe, expect, it } from 'vitest';
import { benchReviews, reviewBody } from '../../bench/webhook-review.js';
import { parseReview } from '../../webhook/parse.js';
import { jsonFuzzer } from '../support/json-fuzz.js';
import { seededRandom } from '../support/random.js';
import { deployment, gvk, request } from './support.js';

type Json = Record<string, unknown>;

/** An entry as the API server writes it, with the characters a scan for brackets must not trip on. */
const entry = (manager: string) => ({
  manager,
  operation: 'Update',
  apiVersion: 'apps/v1',
  time: '2026-12-03T10:00:00Z',
  fieldsType: 'FieldsV1',
  fieldsV1: {
    'f:spec': {
      'f:template': {
        'f:spec': {
          'f:containers': { 'k:{"name":"podinfo]}"}': { '.': {}, 'f:image': {} } },
          'f:env': { 'k:{"name":"A\\\\"}': {}, 'v:"[{\\"]"': {} },
        },
      },
    },
  },
});

const withManagedFields = (object: Json, ...managers: string[]): Json => ({
  ...object,
  metadata: { ...(object['metadata'] as Json), managedFields: managers.map(entry) },
});

const review = (req: unknown): Json => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: req,
});

const plain = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;

/** The object's and the old object's metadata in a parsed review, where they are objects. */
const metadatas = (value: unknown): Json[] =>
  ['object', 'oldObject'].flatMap((key): Json[] => {
    const meta = plain(plain(plain(plain(value)?.['request'])?.[key])?.['metadata']);
    return meta === undefined ? [] : [meta];
  });

/** What parseReview promises: JSON.parse's value, without the object's and old object's managedFields arrays. */
function expected(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  for (const meta of metadatas(value)) if (Array.isArray(meta['managedFields'])) delete meta['managedFields'];
  return value;
}

/** Where the text of each managedFields array stands in `text`, from its `[` to just past its `]`. */
function skipped(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  for (const meta of metadatas(JSON.parse(text))) {
    const array = meta['managedFields'];
    if (!Array.isArray(array)) continue;
    const needle = `"managedFields":${JSON.stringify(array)}`;
    for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
      const from = at + '"managedFields":'.length;
      ranges.push([from, at + needle.length]);
    }
  }
  return ranges;
}

const update = (object: Json, oldObject: Json) =>
  review(request({ kind: gvk('Deployment'), operation: 'UPDATE', object, oldObject }));

describe('parsing a review', () => {
  it('leaves out the managedFields of the object and the old object, and nothing else', () => {
    const text = reviewBody(benchReviews().heldImageChange);
    const parsed = parseReview(text) as { request: Record<string, { metadata: Json }> };
    expect(parsed).toEqual(expected(text));
    expect(JSON.parse(text)).not.toEqual(expected(text));
    expect(Object.keys(parsed.request['object']?.metadata ?? {})).not.toContain('managedFields');
    expect(Object.keys(parsed.request['oldObject']?.metadata ?? {})).not.toContain('managedFields');
  });

  it('skips strings whole: brackets, braces and escaped quotes in them do not end the array', () => {
    const text = JSON.stringify(
      update(withManagedFields(deployment(), 'a', 'b'), withManagedFields(deployment(), 'c')),
    );
    expect(parseReview(text)).toEqual(expected(text));
  });

  it('parses the text whole when managedFields stands anywhere else', () => {
    const object = deployment() as unknown as Json;
    const spec = object['spec'] as { template: Json };
    spec.template = withManagedFields(spec.template, 'inside-the-template');
    const text = JSON.stringify(update(withManagedFields(object, 'a'), deployment()));
    const parsed = parseReview(text) as typeof object;
    expect(parsed).toEqual(JSON.parse(text));
  });

  it('parses the text whole when the key is given twice, and keeps the last one, as JSON.parse does', () => {
    const object = JSON.stringify(withManagedFields(deployment(), 'first'));
    const twice = object.replace('"managedFields":', '"managedFields":[],"managedFields":');
    const text = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":${twice}}}`;
    expect(parseReview(text)).toEqual(JSON.parse(text));
  });

  it('fails as JSON.parse does on text that does not close, or closes a bracket with the wrong one', () => {
    const text = JSON.stringify(update(withManagedFields(deployment(), 'a'), deployment()));
    const cuts = [text.indexOf('"managedFields"') + 30, text.length - 1, text.indexOf('fieldsV1') + 3];
    const broken = [
      ...cuts.map((cut) => text.slice(0, cut)),
      // `[{…]]`: brackets that balance in number but not in kind.
      text.replace(/\}\]\}/, ']]}'),
    ];
    for (const sent of broken) {
      const error = (() => {
        try {
          JSON.parse(sent);
        } catch (err) {
          return (err as Error).message;
        }
        return 'parsed';
      })();
      expect(() => parseReview(sent)).toThrow(SyntaxError);
      expect(() => parseReview(sent)).toThrow(error);
    }
  });

  it('gives JSON.parse’s value on 5000 mutated reviews, and its error on 5000 damaged texts', () => {
    const random = seededRandom(20261203);
    const { pick, mutate } = jsonFuzzer(random);
    const seeds = [
      update(withManagedFields(deployment(), 'a', 'b'), withManagedFields(deployment(), 'a')),
      update(withManagedFields(deployment(), 'a'), deployment()),
      review(
        request({
          kind: gvk('ConfigMap'),
          operation: 'UPDATE',
          object: withManagedFields({ data: {} }, 'x'),
        }),
      ),
    ];
    // A managedFields array anywhere else, or one that is not where it should be, has the text parsed whole.
    let stripped = 0;
    for (let i = 0; i < 5_000; i++) {
      const text = JSON.stringify(mutate(pick(seeds)));
      const actual = JSON.stringify(parseReview(text));
      if (actual === JSON.stringify(expected(text))) stripped++;
      else if (actual !== JSON.stringify(JSON.parse(text))) expect.fail(`case ${i}: ${text}`);
    }
    expect(stripped).toBeGreaterThan(4_000);
    // A damaged text is refused as JSON.parse refuses it, unless the damage lies inside a skipped array,
    // which is scanned for strings and brackets only.
    const damage = ['', ',', '"', '\\', '[', ']', '{', '}', 'x', ':'];
    let insideSkipped = 0;
    for (let i = 0; i < 5_000; i++) {
      const text = JSON.stringify(pick(seeds));
      const at = Math.floor(random() * text.length);
      const broken = text.slice(0, at) + pick(damage) + text.slice(at + 1);
      let reference: unknown;
      let referenceError: string | undefined;
      try {
        reference = expected(broken);
      } catch (err) {
        referenceError = (err as Error).message;
      }
      let actual: unknown;
      try {
        actual = parseReview(broken);
      } catch (err) {
        if (referenceError !== (err as Error).message) expect.fail(`case ${i}: ${broken}`);
        continue;
      }
      if (referenceError === undefined) {
        expect([reference, JSON.parse(broken)]).toContainEqual(actual);
        continue;
      }
      if (!skipped(text).some(([from, to]) => at >= from && at < to))
        expect.fail(`case ${i}: accepted damage outside managedFields: ${broken}`);
      insideSkipped++;
    }
    expect(insideSkipped).toBeLessThan(2_500);
  });
});
