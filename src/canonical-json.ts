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
 * them in (keys that are array indices, such as "10", come first in numeric order in any object).
 * Object.fromEntries keeps a `__proto__` key that JSON.parse made as a property.
 */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((key) => [key, sorted(record[key])]),
  );
}
