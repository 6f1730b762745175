import { RE2JS, RE2JSException } from 're2js';
import { z } from 'zod';

/**
 * Header matches, as users write them in `sluice.dev/match` and `sluice.dev/segment` and as the route
 * protocol carries them. A match names a header or a cookie and a value, exact or a regular expression:
 *
 *   traffic=test            header `traffic` equals `test`
 *   x-user~^qa-             header `x-user` matches /^qa-/
 *   cookie:canary=always    cookie `canary` equals `always`
 *
 * A list matches when any one of its entries does.
 *
 * Regexes are RE2 syntax and run on re2js, a port of RE2: matching takes time linear in the header's
 * length whatever the pattern, because any client chooses the header and a backtracking engine lets one
 * request with a crafted value stall the proxy (`^(a+)+$` against 4,000 `a`s and a `!`). The price is
 * what RE2 leaves out of JavaScript's syntax: lookaround and backreferences.
 */

export const headerNameSchema = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name (letters, digits, -)')
  .transform((s) => s.toLowerCase());

/** A compiled header regex: `test` is true when the pattern matches anywhere in the value. */
export type HeaderRegex = RE2JS;

/** Compiles a regex in RE2 syntax; throws RE2JSException. */
export function compileHeaderRegex(source: string): HeaderRegex {
  return RE2JS.compile(source);
}

/** JavaScript habits that RE2 refuses, and what to write instead: the hint added to the parser's reason. */
const JS_ONLY_SYNTAX: readonly (readonly [RegExp, string])[] = [
  [/\(\?<?[=!]/, 'lookahead and lookbehind are not supported'],
  [/\\(?:[1-9]|k<)/, 'backreferences are not supported'],
  [/\\u/, 'write a code point as \\x{41}, not \\u0041'],
  [/\[\^\]/, 'write (?s:.) for any character, not [^]'],
];

/** Why RE2 refuses a pattern, with a hint when it is JavaScript-only syntax; undefined when it compiles. */
export function regexProblem(source: string): string | undefined {
  try {
    compileHeaderRegex(source);
    return undefined;
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    const reason = err.message.replace(/^error parsing regexp: /, '');
    const hint = JS_ONLY_SYNTAX.find(([syntax]) => syntax.test(source))?.[1];
    return `invalid regular expression (RE2 syntax): ${reason}${hint === undefined ? '' : ` (${hint})`}`;
  }
}

/** The wire form of one match; exactly one of header/cookie and one of exact/regex. */
export const headerMatchSchema = z
  .strictObject({
    header: headerNameSchema.optional(),
    cookie: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a cookie name')
      .optional(),
    exact: z.string().max(1024).optional(),
    regex: z
      .string()
      .max(1024)
      .superRefine((source, ctx) => {
        const problem = regexProblem(source);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  })
  .refine((m) => (m.header === undefined) !== (m.cookie === undefined), 'set exactly one of header, cookie')
  .refine((m) => (m.exact === undefined) !== (m.regex === undefined), 'set exactly one of exact, regex');

export type HeaderMatch = z.infer<typeof headerMatchSchema>;

export class InvalidMatchError extends Error {
  readonly code = 'InvalidMatch';
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`"${input}": ${reason}; write header=value, header~regex or cookie:name=value`);
    this.name = 'InvalidMatchError';
  }
}

/** Parses one match in annotation syntax; throws InvalidMatchError. */
export function parseMatch(input: string): HeaderMatch {
  const text = input.trim();
  const op = /[=~]/.exec(text);
  if (op === null) throw new InvalidMatchError(input, 'no = or ~');
  const left = text.slice(0, op.index).trim();
  const right = text.slice(op.index + 1).trim();
  const target = left.toLowerCase().startsWith('cookie:')
    ? { cookie: left.slice(7).trim() }
    : { header: left };
  const candidate = op[0] === '=' ? { ...target, exact: right } : { ...target, regex: right };
  const parsed = headerMatchSchema.safeParse(candidate);
  if (!parsed.success)
    throw new InvalidMatchError(input, parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

/** Parses a comma-separated list of matches; an empty string is an empty list. */
export function parseMatchList(input: string): HeaderMatch[] {
  return input
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parseMatch);
}

/** The annotation syntax of a match, the inverse of parseMatch. */
export function formatMatch(match: HeaderMatch): string {
  const left = match.cookie !== undefined ? `cookie:${match.cookie}` : (match.header ?? '');
  return match.exact !== undefined ? `${left}=${match.exact}` : `${left}~${match.regex ?? ''}`;
}

/** Who a sticky split keys on: a header's value or a cookie's, written `x-user` or `cookie:session`. */
export const stickyKeySchema = z
  .string()
  .regex(/^(cookie:)?[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name or cookie:NAME')
  .transform((s) => (s.toLowerCase().startsWith('cookie:') ? `cookie:${s.slice(7)}` : s.toLowerCase()));
