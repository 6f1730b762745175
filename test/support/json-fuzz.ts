/**
 * Random JSON values, and random mutations of a given one (a value replaced or a key removed, anywhere in
 * it), made of the strings and numbers a reader of Kubernetes objects must not trip on: empty, NUL,
 * non-ASCII, 5,000 characters, JSON Pointer escapes, fractions and integers past the safe range. Seeded by
 * the caller, so that a failure can be replayed.
 */

type Json = unknown;

export function jsonFuzzer(random: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const text = (): string =>
    pick([
      '',
      'enabled',
      'disabled',
      '0',
      '-1',
      '1e309',
      'http',
      'sluice.dev/canary',
      '~1',
      '/',
      '\u0000',
      'é'.repeat(50),
      'x'.repeat(5000),
    ]);
  const value = (depth = 0): Json => {
    const kinds = depth > 2 ? 6 : 9;
    switch (Math.floor(random() * kinds)) {
      case 0:
        return null;
      case 1:
        return random() < 0.5;
      case 2:
        return pick([0, -1, 1.5, 65536, 15080, Number.MAX_SAFE_INTEGER]);
      case 3:
        return text();
      case 4:
        return String(random());
      case 5:
        return {};
      case 6:
        return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
      case 7:
        return { [text()]: value(depth + 1), name: text() };
      default:
        return { 'sluice.dev/canary': 'enabled', 'sluice.dev/port': text(), 'sluice.dev/promote': text() };
    }
  };
  const paths = (node: Json, at: (string | number)[] = [], out: (string | number)[][] = []) => {
    out.push(at);
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) paths(v, [...at, Array.isArray(node) ? Number(k) : k], out);
    }
    return out;
  };
  const mutate = (review: Json): Json => {
    const copy = structuredClone(review) as Record<string, unknown>;
    const times = 1 + Math.floor(random() * 3);
    for (let i = 0; i < times; i++) {
      const path = pick(paths(copy));
      if (path.length === 0) continue;
      const parent = path
        .slice(0, -1)
        .reduce<Json>((node, key) => (node as Record<string | number, Json>)[key], copy) as Record<
        string | number,
        Json
      >;
      const key = path[path.length - 1] as string | number;
      if (random() < 0.25) Reflect.deleteProperty(parent, key);
      else parent[key] = value();
    }
    return copy;
  };
  return { pick, value, mutate };
}
