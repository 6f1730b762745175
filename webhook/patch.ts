import jsonPatch from 'fast-json-patch';

/**
 * JSON Patch (RFC 6902) from the difference between two JSON values, as fast-json-patch's `compare` writes
 * it: objects key by key, arrays index by index (items past the shorter one's end added or removed).
 */

export type PatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export function diff(before: object, after: object): PatchOperation[] {
  // Without `invertible`, compare writes only add, remove and replace.
  return jsonPatch.compare(before, after) as PatchOperation[];
}
