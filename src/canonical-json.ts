import { setOwn } from './records.js';

/**
 * Canonical JSON: the text of a value with the keys of every object sorted, so that equal values give equal
 * text and hash alike. Revisions (src/revision.ts) and route table versions (src/routes/table.ts) use it.
 */

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortedCopy(value));
}

/**
 * The value with the keys of every object inserted in sorted order, the order JSON.stringify then writes
 * them in (array-index keys such as "10" first, in numeric order, as in any object). One copy and one
 * native stringify cost half of what a replacer that sorts at every level did.
 */
function sortedCopy(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(sortedCopy);
  const object = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(object).sort()) {
    // JSON.parse makes an own `__proto__` property; assigning one would set the copy's prototype instead.
    setOwn(out, key, sortedCopy(object[key]));
  }
  return out;
}
