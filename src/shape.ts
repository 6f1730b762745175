/**
 * Shapes of JSON values, checked without copying them. A schema library such as zod builds a new object for
 * every object it validates; the webhook checks two Deployments of some 16 KB on every admitted write, and
 * that copy was a quarter of its CPU (README, "Benchmarks"). A shape only reads the fields it names and
 * returns the value it was given, typed; every other field is left as it is, unread.
 *
 * A shape is a function: `shape(value)` is a type guard that allocates nothing, and `explain(shape, value)`
 * runs the same checks again to say where a value that failed is wrong, for the 400 a malformed review gets.
 */

export type Path = (string | number)[];

export interface ShapeIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Where the checks are when explaining a failure: the path to the value at hand and what was found. */
interface Explaining {
  readonly path: Path;
  readonly issues: ShapeIssue[];
}

export interface Shape<T> {
  (value: unknown, explaining?: Explaining): value is T;
}

/** A field that may be absent (or undefined). */
interface Optional<T> extends Shape<T | undefined> {
  readonly optional: true;
}

export type Infer<S> = S extends Shape<infer T> ? T : never;

type Fields = Record<string, Shape<unknown>>;
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends Optional<unknown> ? K : never }[keyof F];
type Flat<T> = { [K in keyof T]: T[K] };

/** An object with the named fields; other fields are allowed and kept, as Kubernetes objects have many. */
export type LooseObject<F extends Fields> = Flat<
  { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> }
> & { [key: string]: unknown };

/** The issues of a value that failed `shape`; empty when it has the shape. */
export function explain(shape: Shape<unknown>, value: unknown): ShapeIssue[] {
  const explaining: Explaining = { path: [], issues: [] };
  shape(value, explaining);
  return explaining.issues;
}

function fail(explaining: Explaining | undefined, message: string): false {
  explaining?.issues.push({ path: [...explaining.path], message });
  return false;
}

function received(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

const typeOf =
  <T>(name: string, test: (value: unknown) => boolean): Shape<T> =>
  (value, explaining): value is T =>
    test(value) || fail(explaining, `expected ${name}, received ${received(value)}`);

export const string: Shape<string> = typeOf('string', (v) => typeof v === 'string');
export const boolean: Shape<boolean> = typeOf('boolean', (v) => typeof v === 'boolean');
/** An integer JSON can carry exactly: a safe integer, as the API server's int32 and int64 fields are. */
export const integer: Shape<number> = typeOf('integer', (v) => Number.isSafeInteger(v));
export const unknown: Shape<unknown> = (_value): _value is unknown => true;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function optional<T>(shape: Shape<T>): Optional<T> {
  const check = (value: unknown, explaining?: Explaining): value is T | undefined =>
    value === undefined || shape(value, explaining);
  return Object.assign(check, { optional: true as const });
}

export function nonEmptyString(message: string): Shape<string> {
  return (value, explaining): value is string =>
    string(value, explaining) && (value !== '' || fail(explaining, message));
}

export function literal<const T extends string>(expected: T, message: string): Shape<T> {
  return (value, explaining): value is T => value === expected || fail(explaining, message);
}

export function oneOf<const T extends readonly string[]>(values: T): Shape<T[number]> {
  const allowed = new Set<unknown>(values);
  return (value, explaining): value is T[number] =>
    allowed.has(value) ||
    fail(explaining, `expected one of ${values.map((v) => JSON.stringify(v)).join('|')}`);
}

export function union<A, B>(a: Shape<A>, b: Shape<B>, name: string): Shape<A | B> {
  return (value, explaining): value is A | B =>
    a(value) || b(value) || fail(explaining, `expected ${name}, received ${received(value)}`);
}

/** Checks a part of a value, with the part's key on the path while explaining. */
function checkPart(
  shape: Shape<unknown>,
  part: unknown,
  key: string | number,
  explaining?: Explaining,
): boolean {
  if (explaining === undefined) return shape(part);
  explaining.path.push(key);
  const ok = shape(part, explaining);
  explaining.path.pop();
  return ok;
}

export function looseObject<F extends Fields>(fields: F): Shape<LooseObject<F>> {
  const entries = Object.entries(fields);
  return (value, explaining): value is LooseObject<F> => {
    if (!isObject(value)) return fail(explaining, `expected object, received ${received(value)}`);
    let ok = true;
    for (const [key, shape] of entries) {
      if (!checkPart(shape, value[key], key, explaining)) {
        ok = false;
        if (explaining === undefined) return false;
      }
    }
    return ok;
  };
}

export function array<T>(item: Shape<T>): Shape<T[]> {
  return (value, explaining): value is T[] => {
    if (!Array.isArray(value)) return fail(explaining, `expected array, received ${received(value)}`);
    let ok = true;
    for (let i = 0; i < value.length; i++) {
      if (!checkPart(item, value[i], i, explaining)) {
        ok = false;
        if (explaining === undefined) return false;
      }
    }
    return ok;
  };
}

/** An object whose every own value has the shape, as labels, annotations and ConfigMap data are. */
export function record<T>(item: Shape<T>): Shape<Record<string, T>> {
  return (value, explaining): value is Record<string, T> => {
    if (!isObject(value)) return fail(explaining, `expected object, received ${received(value)}`);
    let ok = true;
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (!checkPart(item, value[key], key, explaining)) {
        ok = false;
        if (explaining === undefined) return false;
      }
    }
    return ok;
  };
}
