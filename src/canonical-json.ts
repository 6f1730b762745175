/**
 * Canonical JSON: the text of a value with the keys of every object sorted, so that equal values give equal
 * text and hash alike. Revisions (src/revision.ts) and route table versions (src/routes/table.ts) use it;
 * a change to the text it gives renames every release, so test/revision.test.ts holds it to the first one.
 */

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sorted(value));
}

/**
 * A copy of the value with the keys of every object in sorted order, the order JSON.stringify then writes
 * them in (keys that are array indices, such as "10", come first in numeric order in any object). The copy
 * is filled key by key: building it with Object.fromEntries from an array of pairs cost twice as much.
 */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  const keys = Object.keys(record);
  // Most objects come in key order (the API server writes every map sorted), and a sort, however short,
  // allocates its working state: only the others are sorted.
  if (!inOrder(keys)) keys.sort();
  for (const key of keys) {
    const item = sorted(record[key]);
    // JSON.parse makes an own `__proto__` property; assigning one would set the copy's prototype instead.
    if (key === '__proto__')
      Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
    else copy[key] = item;
  }
  return copy;
}

/** Whether the keys already stand in the order `sort()` would give them (UTF-16 code units). */
function inOrder(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if ((keys[i - 1] as string) > (keys[i] as string)) return false;
  return true;
}
