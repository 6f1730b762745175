import { compileHeaderRegex, type HeaderMatch } from '../src/match.js';
import type { RouteTable } from '../src/routes/table.js';

/**
 * Route choice, pure: which side takes a request, in the order DESIGN.md gives. Tables are compiled once
 * when they arrive (regexes built, names lower-cased), so the per-request work is a few comparisons. The
 * regexes run on RE2 (src/routes/match.ts), in time linear in the header's length.
 */

/** A compiled header regex: true when the pattern is found in the value. */
export interface ValueTest {
  test(value: string): boolean;
}

export type Destination = 'local' | 'canary';
export type Role = 'primary' | 'canary';

/** Reads a request header by lower-case name; the first value when repeated. */
export type HeaderReader = (name: string) => string | undefined;

/** The loop guard: a request forwarded by a sluice proxy is never forwarded again. */
export const HOP_HEADER = 'x-sluice-hop';

interface CompiledMatch {
  readonly cookie: boolean;
  readonly name: string;
  readonly exact: string | undefined;
  readonly regex: ValueTest | undefined;
}

interface CompiledKey {
  readonly cookie: boolean;
  readonly name: string;
}

export interface CompiledRoute {
  readonly table: RouteTable;
  readonly canary: null | {
    readonly origin: string;
    readonly hostname: string;
    readonly port: number;
    /** Share of requests, in hundredths of a percent (0 … 10000), compared with a bucket. */
    readonly threshold: number;
    readonly match: readonly CompiledMatch[];
    readonly segment: readonly CompiledMatch[];
    readonly sticky: CompiledKey | null;
    /** Share of requests mirrored, in hundredths of a percent, as `threshold`; 0 when none. */
    readonly mirrorThreshold: number;
  };
}

export const BUCKETS = 10_000;

export function compileRoute(table: RouteTable): CompiledRoute {
  const { canary } = table;
  if (canary === null) return { table, canary: null };
  const url = new URL(canary.url);
  return {
    table,
    canary: {
      origin: url.origin,
      // The URL keeps an IPv6 address in brackets; a socket wants it bare.
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? 80 : Number(url.port),
      threshold: Math.round(canary.weight * (BUCKETS / 100)),
      match: canary.match.map(compileMatch),
      segment: canary.segment.map(compileMatch),
      sticky: canary.sticky === null ? null : compileKey(canary.sticky),
      mirrorThreshold: Math.round((canary.mirror ?? 0) * (BUCKETS / 100)),
    },
  };
}

function compileMatch(match: HeaderMatch): CompiledMatch {
  return {
    cookie: match.cookie !== undefined,
    name: match.cookie ?? match.header ?? '',
    exact: match.exact,
    regex: match.regex === undefined ? undefined : compileValueTest(match.regex),
  };
}

/**
 * Literals and one alternation of literals, anchored or not (`^qa-`, `@example\.com$`, `^(de|fr|it)$`,
 * `(iPhone|Android)`): most of what people write. Both engines read these alike, and with no repetition a
 * backtracking engine also takes time linear in the value (each start tries each alternative once), so
 * V8's RegExp, several times faster than re2js on them (bench/match.ts), runs them; RE2 runs the rest.
 */
const LITERALS = String.raw`(?:[^\\^$.|?*+()[\]{}]|\\[\\^$.|?*+()[\]{}/-])*`;
const ALTERNATIVES = `${LITERALS}(?:\\|${LITERALS})*`;
const LITERAL_ALTERNATION = new RegExp(
  `^\\^?(?:${ALTERNATIVES}|${LITERALS}\\((?:\\?:)?${ALTERNATIVES}\\)${LITERALS})\\$?$`,
);

export function compileValueTest(source: string): ValueTest {
  // Compiled once: the table's validation (headerMatchSchema) has already refused what RE2 cannot read, and
  // RE2 reads every pattern of the literal shape as V8 does.
  return LITERAL_ALTERNATION.test(source) ? new RegExp(source) : compileHeaderRegex(source);
}

function compileKey(key: string): CompiledKey {
  return key.startsWith('cookie:') ? { cookie: true, name: key.slice(7) } : { cookie: false, name: key };
}

/**
 * The documented order: hop header → local; canary role → local; a match → canary; outside the segment →
 * local; weight (sticky bucket of the key, else random) → canary; else local.
 */
export function chooseDestination(
  route: CompiledRoute,
  role: Role,
  header: HeaderReader,
  random: () => number,
): Destination {
  const canary = route.canary;
  if (canary === null || role === 'canary') return 'local';
  if (header(HOP_HEADER) !== undefined) return 'local';
  if (canary.match.length > 0 && anyMatches(canary.match, header)) return 'canary';
  if (canary.segment.length > 0 && !anyMatches(canary.segment, header)) return 'local';
  if (canary.threshold <= 0) return 'local';
  if (canary.threshold >= BUCKETS) return 'canary';
  const key = canary.sticky === null ? undefined : readKey(canary.sticky, header);
  const bucket = key === undefined ? Math.floor(random() * BUCKETS) : stickyBucket(key);
  return bucket < canary.threshold ? 'canary' : 'local';
}

/** Methods that change nothing on the app (RFC 9110 §9.2.1): the only ones a mirror copies. */
const MIRRORED_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a request the local app takes is also copied to the canary (docs/proxy.md, "Mirroring"): only
 * on a primary, only a safe method without a body (nothing to buffer, nothing the canary could change
 * twice), never a request another proxy forwarded, and then the table's share, at random.
 */
export function shouldMirror(
  route: CompiledRoute,
  role: Role,
  method: string,
  hasBody: boolean,
  header: HeaderReader,
  random: () => number,
): boolean {
  const canary = route.canary;
  if (canary === null || canary.mirrorThreshold <= 0 || role === 'canary' || hasBody) return false;
  if (!MIRRORED_METHODS.has(method) || header(HOP_HEADER) !== undefined) return false;
  return canary.mirrorThreshold >= BUCKETS || Math.floor(random() * BUCKETS) < canary.mirrorThreshold;
}

function anyMatches(matches: readonly CompiledMatch[], header: HeaderReader): boolean {
  for (const m of matches) {
    const value = m.cookie ? cookieValue(header('cookie'), m.name) : header(m.name);
    if (value === undefined) continue;
    if (m.exact !== undefined ? value === m.exact : (m.regex as ValueTest).test(value)) return true;
  }
  return false;
}

function readKey(key: CompiledKey, header: HeaderReader): string | undefined {
  return key.cookie ? cookieValue(header('cookie'), key.name) : header(key.name);
}

export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (cookieHeader === undefined) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A key's fixed bucket (FNV-1a, 32 bits). A key goes to the canary while its bucket is below the
 * threshold, so raising the weight only ever moves keys from the primary to the canary.
 */
export function stickyBucket(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % BUCKETS;
}

/** A HeaderReader over Node's flat rawHeaders array, without building the headers object. */
export function rawHeaderReader(raw: readonly string[]): HeaderReader {
  return (name) => {
    for (let i = 0; i < raw.length; i += 2) {
      const key = raw[i] as string;
      if (key.length === name.length && key.toLowerCase() === name) return raw[i + 1];
    }
    return undefined;
  };
}
