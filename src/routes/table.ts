import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.js';
import { headerMatchSchema, stickyKeySchema } from '../match.js';

/**
 * The route table a proxy applies (DESIGN.md, "The proxy"): where the canary is and which requests go to
 * it. `canary: null` sends everything to the local app.
 *
 * Unknown fields of the table are ignored, so that a newer controller can add some during an upgrade; a
 * match entry is strict, since ignoring a field there could change which requests it selects.
 */
export const routeCanarySchema = z.object({
  url: z
    .string()
    // abort: zod runs every check of a field by default, and the next one cannot read a string that is
    // not a URL (it would throw, and the proxy would take a bad table for an unreachable route server).
    .refine((s) => URL.canParse(s) && new URL(s).protocol === 'http:', {
      message: 'expected an http:// URL',
      abort: true,
    })
    .refine((s) => {
      const url = new URL(s);
      return url.pathname === '/' && url.search === '' && url.username === '';
    }, 'expected scheme, host and port only'),
  weight: z.number().min(0, 'weight must be 0 to 100').max(100, 'weight must be 0 to 100'),
  match: z.array(headerMatchSchema).max(32).default([]),
  segment: z.array(headerMatchSchema).max(32).default([]),
  sticky: stickyKeySchema.nullable().default(null),
  /**
   * Share of the primaries' idempotent, bodiless requests also copied to the canary, in percent; the copy's
   * answer is discarded (docs/proxy.md, "Mirroring"). Absent when nothing is mirrored, so a table without
   * mirroring keeps the version it had before the field existed.
   */
  mirror: z
    .number()
    .min(0, 'mirror must be 0 to 100 (percent)')
    .max(100, 'mirror must be 0 to 100 (percent)')
    .optional(),
});

/**
 * A table's version travels back in `If-None-Match: "<version>"`, so it is an ETag's opaque tag: printable
 * ASCII without `"`. Anything else could not be sent back, and the proxy's polls would fail for good.
 */
export const routeVersionSchema = z
  .string()
  .regex(/^[\x21\x23-\x7e]{1,128}$/, 'expected 1 to 128 printable ASCII characters, no spaces or "');

export const routeTableSchema = z.object({
  version: routeVersionSchema,
  canary: routeCanarySchema.nullable(),
});

export type RouteCanary = z.output<typeof routeCanarySchema>;
export type RouteCanaryInput = z.input<typeof routeCanarySchema>;
export type RouteTable = z.output<typeof routeTableSchema>;

/** The table for a deployment nobody routes: everything local. */
export const LOCAL_ONLY_VERSION = 'local';

export function localOnlyTable(): RouteTable {
  return { version: LOCAL_ONLY_VERSION, canary: null };
}

/**
 * A table's version is a hash of its content, so that every controller replica, and a restarted one,
 * gives the same table the same version and a proxy never keeps a stale table under a reused number.
 */
export function routeTable(canary: RouteCanary | null): RouteTable {
  if (canary === null) return localOnlyTable();
  const version = createHash('sha256').update(canonicalJson(canary)).digest('hex').slice(0, 16);
  return { version, canary };
}
