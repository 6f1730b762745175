import type { z } from 'zod';

/**
 * @deprecated The guard-and-explain form webhook/admit.ts checks objects in, over zod schemas: parse with
 * the schema (`schema.safeParse`) instead. This file goes once admit.ts does so.
 */

export interface ShapeIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** A type guard for a schema: the value itself, not the schema's copy of it, is then taken as valid. */
export interface Shape<T> {
  (value: unknown): value is T;
  readonly schema: z.ZodType<T>;
}

export function shapeOf<T>(schema: z.ZodType<T>): Shape<T> {
  const guard = (value: unknown): value is T => schema.safeParse(value).success;
  return Object.assign(guard, { schema });
}

/** Where and why a value fails `shape`; empty when it has the shape. */
export function explain<T>(shape: Shape<T>, value: unknown): ShapeIssue[] {
  const issues = shape.schema.safeParse(value).error?.issues ?? [];
  return issues.map(({ path, message }) => ({
    path: path.map((key) => (typeof key === 'number' ? key : String(key))),
    message,
  }));
}
