import { randomUUID } from 'node:crypto';
import { isObject } from '../src/shape.js';

/**
 * JSON.parse of an AdmissionReview's text, without building the one part of it the webhook never reads: the
 * `metadata.managedFields` of the object and of the old object. The API server sends them in every review
 * (server-side apply's record of who owns which field); in the benchmark's Deployment they are 27% of the
 * text, and as thousands of small objects with keys to intern, the costliest part of JSON.parse to build
 * (README, "Benchmarks → The webhook").
 *
 * Each array is found by its text, `"managedFields":[`, and its end by a scan that follows strings and
 * brackets; it is replaced by a marker string no review can contain (a random UUID of this process). After
 * the parse, the markers must stand exactly at `request.object.metadata.managedFields` and
 * `request.oldObject.metadata.managedFields`, one for each array replaced, and are then deleted. When they
 * do not (a `managedFields` key somewhere else, a key given twice, a bracket that does not close), the text
 * is parsed again whole, as it came: the result is never other than JSON.parse's, except that a skipped
 * array is checked for balanced strings and brackets rather than parsed, and so not for every rule of JSON.
 */

const KEY = '"managedFields":';
const MARKER = `sluice:unread:${randomUUID()}`;
const MARKER_JSON = JSON.stringify(MARKER);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

export function parseReview(text: string): unknown {
  let open = nextArray(text, 0);
  if (open === -1) return JSON.parse(text);
  let stripped = '';
  let copied = 0;
  let replaced = 0;
  while (open !== -1) {
    const end = endOfArray(text, open);
    if (end === -1) return JSON.parse(text);
    stripped += text.slice(copied, open) + MARKER_JSON;
    copied = end;
    replaced++;
    open = nextArray(text, end);
  }
  stripped += text.slice(copied);
  let value: unknown;
  try {
    value = JSON.parse(stripped);
  } catch {
    return JSON.parse(text);
  }
  const request = field(value, 'request');
  const marked = [
    field(field(request, 'object'), 'metadata'),
    field(field(request, 'oldObject'), 'metadata'),
  ].filter((meta): meta is Record<string, unknown> => meta?.['managedFields'] === MARKER);
  if (marked.length !== replaced) return JSON.parse(text);
  for (const meta of marked) delete meta['managedFields'];
  return value;
}

function field(value: unknown, key: string): Record<string, unknown> | undefined {
  const inner = isObject(value) ? value[key] : undefined;
  return isObject(inner) ? inner : undefined;
}

/**
 * The index of the next `[` that opens a managedFields array, from `from` on, or -1. Each `[` is found by
 * itself and the key looked for before it: a search for one character runs at memory speed, one for the
 * whole key over the review took 10 µs of the 20 that finding and skipping both arrays did.
 */
function nextArray(text: string, from: number): number {
  for (let at = text.indexOf('[', from); at !== -1; at = text.indexOf('[', at + 1)) {
    if (at >= KEY.length && text.startsWith(KEY, at - KEY.length)) return at;
  }
  return -1;
}

/**
 * The index just past the `]` that closes the array opening at `open`, or -1 when it does not close. Strings
 * are skipped whole (brackets and escaped quotes in them do not count); brackets must pair up.
 */
function endOfArray(text: string, open: number): number {
  const closers: number[] = [];
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = endOfString(text, i);
      if (i === -1) return -1;
    } else if (c === OPEN_ARRAY) {
      closers.push(CLOSE_ARRAY);
    } else if (c === OPEN_OBJECT) {
      closers.push(CLOSE_OBJECT);
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (closers.pop() !== c) return -1;
      if (closers.length === 0) return i + 1;
    }
  }
  return -1;
}

/** The index of the quote that closes the string opening at `open`: the first one not escaped. */
function endOfString(text: string, open: number): number {
  let quote = open;
  for (;;) {
    quote = text.indexOf('"', quote + 1);
    if (quote === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
  }
}
