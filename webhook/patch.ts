import { escapePointer } from '../src/json-pointer.js';
import { isObject } from '../src/shape.js';

/**
 * JSON Patch (RFC 6902) from the difference between two JSON values. Objects are compared key by key; an
 * array whose length changed is replaced whole, which keeps patches short and correct without a list diff.
 */

export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export function diff(before: unknown, after: unknown): PatchOperation[] {
  const ops: PatchOperation[] = [];
  collect(before, after, '', ops);
  return ops;
}

/** Appends to `ops` what turns `before` into `after`: one array for the whole walk, not one per level. */
function collect(before: unknown, after: unknown, path: string, ops: PatchOperation[]): void {
  if (before === after) return;
  if (isObject(before) && isObject(after)) {
    for (const key of Object.keys(before)) {
      if (!Object.hasOwn(after, key)) ops.push({ op: 'remove', path: `${path}/${escapePointer(key)}` });
    }
    for (const key of Object.keys(after)) {
      const value = after[key];
      const known = Object.hasOwn(before, key);
      // Most of an admitted object is shared with the request as it came: skip it before building a path.
      if (known && before[key] === value) continue;
      const at = `${path}/${escapePointer(key)}`;
      if (!known) ops.push({ op: 'add', path: at, value });
      else collect(before[key], value, at, ops);
    }
  } else if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((item, i) => collect(item, after[i], `${path}/${i}`, ops));
  } else {
    ops.push({ op: 'replace', path, value: after });
  }
}
