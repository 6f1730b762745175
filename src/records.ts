/**
 * Building string-keyed records (labels, annotations) from parsed JSON without a new hidden class each time.
 *
 * V8 gives `{ ...parsed, [key]: value }` (and `{ ...parsed }` followed by a store of a new key) a map of its
 * own on every call, even when `parsed` has the same shape every time: the clone's map keeps no transition
 * for the next object to follow. Maps and the enum caches that `Object.keys` then builds for them live in
 * the old generation, so each admission left about 1.4 KB there that only a mark-compact frees (README,
 * "Benchmarks → The webhook"). An object filled key by key from an empty literal follows V8's transitions
 * from that literal's map, and the second object of a shape gets the first one's map.
 */

/** Sets an own property; a `__proto__` key (JSON.parse makes one) stays a property, not the prototype. */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  } else record[key] = value;
}

/** `{ ...base, ...entries }`, key order included, as an object whose hidden class is shared. */
export function withEntries<T>(
  base: Readonly<Record<string, T>> | undefined,
  entries: Readonly<Record<string, T>>,
): Record<string, T> {
  const out: Record<string, T> = {};
  if (base !== undefined) for (const key of Object.keys(base)) setOwn(out, key, base[key] as T);
  for (const key of Object.keys(entries)) setOwn(out, key, entries[key] as T);
  return out;
}
