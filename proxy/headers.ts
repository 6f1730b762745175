import { HOP_HEADER, type Destination, type Role } from './router.js';

/**
 * Header rewriting on both legs, over flat [name, value, …] arrays (what the HTTP parser hands us), so
 * that no headers object is built per request; `headBlock` turns one into the bytes sent.
 */

export const ROUTE_HEADER = 'x-sluice-route';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and are never forwarded. The body's
 * framing (`transfer-encoding`) is set again by the proxy for the leg it writes. `expect` is answered by
 * the proxy itself (100-continue); the hop header is ours and is set again only towards the canary.
 */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];
const REQUEST_DROPPED = new Set([...HOP_BY_HOP, 'expect', HOP_HEADER]);
const RESPONSE_DROPPED = new Set([...HOP_BY_HOP, ROUTE_HEADER]);

export interface ForwardedRequestHeaders {
  headers: string[];
  /** The request has a body to stream: a content-length above 0, or a transfer-encoding. */
  hasBody: boolean;
  /** The client's transfer-encoding (its last coding is `chunked`), to be set again upstream. */
  transferEncoding: string | undefined;
  /** The client's `expect`, which the proxy answers itself. */
  expect: string | undefined;
  /** A Host header came (HTTP/1.0 clients may send none; HTTP/1.1 requires one). */
  hasHost: boolean;
}

/** The client's request headers for an upstream; the caller adds the framing and, towards the canary, the hop header. */
export function requestHeaders(
  raw: readonly string[],
  clientAddress: string | undefined,
): ForwardedRequestHeaders {
  const headers: string[] = [];
  let hasBody = false;
  let forwardedFor: string | undefined;
  let forwardedProto = false;
  let connection: string | undefined;
  let transferEncoding: string | undefined;
  let expect: string | undefined;
  let hasHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (REQUEST_DROPPED.has(lower)) {
      if (lower === 'transfer-encoding') {
        hasBody = true;
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      } else if (lower === 'connection')
        connection = connection === undefined ? value : `${connection}, ${value}`;
      else if (lower === 'expect') expect = value;
      continue;
    }
    if (lower === 'content-length') {
      if (value !== '0') hasBody = true;
    } else if (lower === 'host') hasHost = true;
    else if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    } else if (lower === 'x-forwarded-proto') forwardedProto = true;
    headers.push(name, value);
  }
  const client = clientAddress ?? 'unknown';
  headers.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  if (!forwardedProto) headers.push('x-forwarded-proto', 'http');
  return {
    headers: connection === undefined ? headers : withoutNamed(headers, connection),
    hasBody,
    transferEncoding,
    expect,
    hasHost,
  };
}

export interface ForwardedResponseHeaders {
  headers: string[];
  /** The app framed its body by length. */
  hasLength: boolean;
  /** The app's transfer-encoding, if any. */
  transferEncoding: string | undefined;
}

/** The app's response headers for the client, marked with who answered; the caller adds the framing. */
export function responseHeaders(
  raw: readonly string[],
  destination: Destination,
  role: Role,
): ForwardedResponseHeaders {
  const headers: string[] = [];
  let connection: string | undefined;
  let hasLength = false;
  let transferEncoding: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (RESPONSE_DROPPED.has(lower)) {
      if (lower === 'connection') {
        const value = raw[i + 1] as string;
        connection = connection === undefined ? value : `${connection}, ${value}`;
      } else if (lower === 'transfer-encoding') {
        const value = raw[i + 1] as string;
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      }
      continue;
    }
    if (lower === 'content-length') hasLength = true;
    headers.push(name, raw[i + 1] as string);
  }
  headers.push(ROUTE_HEADER, destination === 'canary' ? 'canary' : role);
  return {
    headers: connection === undefined ? headers : withoutNamed(headers, connection),
    hasLength,
    transferEncoding,
  };
}

/** `name: value` lines, each ending in CRLF. */
export function headerLines(headers: readonly string[]): string {
  let lines = '';
  for (let i = 0; i < headers.length; i += 2)
    lines += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`;
  return lines;
}

/** The header lines and the blank line that ends a head, after its first line. */
export function headBlock(headers: readonly string[]): string {
  return `${headerLines(headers)}\r\n`;
}

/**
 * Headers a Connection header may not take away: the body's framing, the Host, and the headers the proxy
 * itself sets. A client that names `content-length` there would otherwise have the proxy read its body
 * by length and send it on unframed, for the app to read as a second request (request smuggling).
 */
const NEVER_NAMED = new Set(['content-length', 'host', 'x-forwarded-for', 'x-forwarded-proto', ROUTE_HEADER]);

/** Drops the headers a Connection header names: they are hop-by-hop too. */
function withoutNamed(headers: string[], connection: string): string[] {
  // The common values name no other header.
  if (connection === 'keep-alive' || connection === 'close') return headers;
  const named = new Set(
    connection
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== 'close' && s !== 'keep-alive' && s !== '' && !NEVER_NAMED.has(s)),
  );
  if (named.size === 0) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!named.has((headers[i] as string).toLowerCase()))
      out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}
