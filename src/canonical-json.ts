import { setOwn } from './records.js';

/**
 * Canonical JSON: the text of a value with the keys of every object sorted, so that equal values give equal
 * text and hash alike. Revisions (src/revision.ts) and route table versions (src/routes/table.ts) use it.
 */

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sorted(value));
}

/**
 * The value with the keys of every object in sorted order, the order JSON.stringify then writes them in
 * (array-index keys such as "10" first, in numeric order, as in any object). One copy and one native
 * stringify cost half of what a replacer that sorts at every level did. Only what is out of order is
 * copied: a plain object whose keys already come sorted and whose values need no copy is used as it is
 * (the API server writes maps, such as labels, env entries' `{name, value}`, in key order), and so is an
 * array none of whose items needs one.
 */
function sorted(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const out = sorted(item);
      if (copy === undefined && out !== item) copy = value.slice(0, i);
      copy?.push(out);
    }
    return copy ?? value;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (isPlain(object) && inOrder(keys)) {
    let copy: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const item = object[key];
      const out = sorted(item);
      if (copy === undefined && out !== item) {
        copy = {};
        for (let j = 0; j < i; j++) setOwn(copy, keys[j] as string, object[keys[j] as string]);
      }
      if (copy !== undefined) setOwn(copy, key, out);
    }
    return copy ?? object;
  }
  const copy: Record<string, unknown> = {};
  // JSON.parse makes an own `__proto__` property; assigning one would set the copy's prototype instead.
  for (const key of sortKeys(keys)) setOwn(copy, key, sorted(object[key]));
  return copy;
}

/**
 * Up to this many keys insertion sort is the faster of the two (shuffled keys: 541 against 720 ns at 24,
 * even at 32, and behind from there on, 4.4 against 2.6 µs at 64).
 */
const INSERTION_SORT_KEYS = 24;

/**
 * `keys.sort()`, in place. The built-in sort allocates its merge state on every call, about 670 bytes even
 * for a handful of keys: two thirds of what a template's canonical JSON allocated, and with it a tenth of an
 * admission's (README, "Benchmarks → The webhook"). An object's keys are few, and insertion sort allocates
 * nothing. Both order by UTF-16 code units.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > INSERTION_SORT_KEYS) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}

/** An object JSON.stringify writes as its own enumerable properties alone: no prototype but Object's. */
function isPlain(object: object): boolean {
  const proto: unknown = Object.getPrototypeOf(object);
  return proto === Object.prototype || proto === null;
}

function inOrder(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if ((keys[i - 1] as string) > (keys[i] as string)) return false;
  return true;
}
