import { describe, expect, it } from 'vitest';
import { escapePointer } from '../../src/json-pointer.js';
import { diff, type PatchOperation } from '../../webhook/patch.js';
import { seededRandom } from '../support/random.js';
import { applyPatch } from './support.js';

/**
 * The diff sluice wrote itself before it used fast-json-patch (objects key by key, an array whose length
 * changed replaced whole): its patches and the library's must turn a value into the same one.
 */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function referenceDiff(before: unknown, after: unknown): PatchOperation[] {
  const ops: PatchOperation[] = [];
  const collect = (b: unknown, a: unknown, path: string): void => {
    if (b === a) return;
    if (isObject(b) && isObject(a)) {
      for (const key of Object.keys(b)) {
        if (!Object.hasOwn(a, key)) ops.push({ op: 'remove', path: `${path}/${escapePointer(key)}` });
      }
      for (const key of Object.keys(a)) {
        const value = a[key];
        const known = Object.hasOwn(b, key);
        if (known && b[key] === value) continue;
        const at = `${path}/${escapePointer(key)}`;
        if (!known) ops.push({ op: 'add', path: at, value });
        else collect(b[key], value, at);
      }
    } else if (Array.isArray(b) && Array.isArray(a) && b.length === a.length) {
      b.forEach((item, i) => collect(item, a[i], `${path}/${i}`));
    } else {
      ops.push({ op: 'replace', path, value: a });
    }
  };
  collect(before, after, '');
  return ops;
}

// No `__proto__`: the test's applyPatch would set a prototype with it.
const KEYS = ['name', 'image', 'a/b', 'c~d', '~1', '', '0', '12', 'ports', 'env'];

function randomValue(random: () => number, depth: number): unknown {
  const r = random();
  if (depth > 3 || r < 0.3) return [null, true, 0, 1.5, 'x', 'y', ''][Math.floor(random() * 7)];
  if (r < 0.5) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
  const out: Record<string, unknown> = {};
  for (const key of KEYS) {
    if (random() < 0.4) {
      Object.defineProperty(out, key, {
        value: randomValue(random, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return out;
}

/** A changed copy that shares some parts with the original and rebuilds others, as admission does. */
function changed(random: () => number, value: unknown, depth = 0): unknown {
  const r = random();
  if (r < 0.3) return value;
  if (r < 0.35) return randomValue(random, depth);
  if (r < 0.45) return structuredClone(value);
  if (Array.isArray(value)) {
    const items = value.map((item) => changed(random, item, depth + 1));
    if (random() < 0.1) items.push(randomValue(random, depth + 1));
    return items;
  }
  if (!isObject(value)) return random() < 0.8 ? value : randomValue(random, depth);
  const out: Record<string, unknown> = {};
  const keys = Object.keys(value);
  if (random() < 0.1) keys.reverse();
  for (const key of keys) {
    if (random() < 0.1) continue;
    Object.defineProperty(out, key, {
      value: changed(random, value[key], depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  if (random() < 0.1) out[KEYS[Math.floor(random() * KEYS.length)] ?? 'name'] = randomValue(random, depth);
  return out;
}

/** A random object, with keys that need escaping and index-like keys at every level. */
function randomObject(random: () => number): Record<string, unknown> {
  for (;;) {
    const value = randomValue(random, 0);
    if (isObject(value)) return value;
  }
}

describe('the JSON Patch between two values', () => {
  it('turns the first value into the second, as the key-by-key diff it replaced does', () => {
    const random = seededRandom(3);
    let checked = 0;
    for (let i = 0; i < 5_000; i++) {
      const before = randomObject(random);
      const after = changed(random, before);
      if (!isObject(after)) continue;
      const ops = diff(before, after);
      expect(applyPatch(before, ops)).toEqual(after);
      expect(applyPatch(before, ops)).toEqual(applyPatch(before, referenceDiff(before, after)));
      checked++;
    }
    expect(checked).toBeGreaterThan(1_000);
  }, 60_000); // thousands of generated cases: slow when the machine is busy, not a timing check

  it('escapes keys in paths and is empty for equal values', () => {
    const before = { metadata: { annotations: { 'a/b': '1', 'c~d': '2' } }, spec: [1, { x: 1 }] };
    const after = { metadata: { annotations: { 'a/b': '3', e: '4' } }, spec: [1, { x: 2 }, 3] };
    expect(diff(before, after)).toEqual(
      expect.arrayContaining([
        { op: 'remove', path: '/metadata/annotations/c~0d' },
        { op: 'replace', path: '/metadata/annotations/a~1b', value: '3' },
        { op: 'add', path: '/metadata/annotations/e', value: '4' },
        { op: 'replace', path: '/spec/1/x', value: 2 },
        { op: 'add', path: '/spec/2', value: 3 },
      ]),
    );
    expect(diff(before, after)).toHaveLength(5);
    expect(diff(before, structuredClone(before))).toEqual([]);
  });
});
