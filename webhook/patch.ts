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
  collect(before, after, [], ops);
  return ops;
}

/** The JSON Pointer of a path, built only for an operation: most of a walk emits none. */
function pointer(tokens: readonly string[], last?: string): string {
  let out = '';
  for (const token of tokens) out += `/${escapePointer(token)}`;
  return last === undefined ? out : `${out}/${escapePointer(last)}`;
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Appends to `ops` what turns `before` into `after`: one array for the whole walk, and one stack of path
 * tokens. The admitted object shares most of itself with the request, and a held change's template, rebuilt
 * from the old object, has the keys of the new one in the same order: such objects are walked once, each
 * value looked up once on each side.
 */
function collect(before: unknown, after: unknown, tokens: string[], ops: PatchOperation[]): void {
  if (before === after) return;
  if (isObject(before) && isObject(after)) {
    const beforeKeys = Object.keys(before);
    const afterKeys = Object.keys(after);
    if (sameKeys(beforeKeys, afterKeys)) {
      for (const key of afterKeys) descend(before[key], after[key], tokens, key, ops);
      return;
    }
    for (const key of beforeKeys) {
      if (!Object.hasOwn(after, key)) ops.push({ op: 'remove', path: pointer(tokens, key) });
    }
    for (const key of afterKeys) {
      const value = after[key];
      if (!Object.hasOwn(before, key)) ops.push({ op: 'add', path: pointer(tokens, key), value });
      else descend(before[key], value, tokens, key, ops);
    }
  } else if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    for (let i = 0; i < after.length; i++) descend(before[i], after[i], tokens, String(i), ops);
  } else {
    ops.push({ op: 'replace', path: pointer(tokens), value: after });
  }
}

function descend(
  before: unknown,
  after: unknown,
  tokens: string[],
  token: string,
  ops: PatchOperation[],
): void {
  // Most of an admitted object is shared with the request as it came: skip it before touching the path.
  if (before === after) return;
  tokens.push(token);
  collect(before, after, tokens, ops);
  tokens.pop();
}
