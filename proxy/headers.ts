import { HOP_HEADER, type Destination, type Role } from './router.js';

/**
 * Header rewriting on both legs, over flat [name, value, …] arrays (what Node and undici hand us), so that
 * no headers object is built per request.
 */

export const ROUTE_HEADER = 'x-sluice-route';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and are never forwarded. `expect` is
 * answered by our own server (100-continue) and undici refuses to send it; the hop header is ours and is
 * set again only towards the canary.
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
}

export function requestHeaders(
  raw: readonly string[],
  clientAddress: string | undefined,
  toCanary: boolean,
): ForwardedRequestHeaders {
  const headers: string[] = [];
  let hasBody = false;
  let forwardedFor: string | undefined;
  let forwardedProto = false;
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (REQUEST_DROPPED.has(lower)) {
      if (lower === 'transfer-encoding') hasBody = true;
      else if (lower === 'connection') connection = value;
      continue;
    }
    if (lower === 'content-length') {
      if (value !== '0') hasBody = true;
    } else if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    } else if (lower === 'x-forwarded-proto') forwardedProto = true;
    headers.push(name, value);
  }
  const client = clientAddress ?? 'unknown';
  headers.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  if (!forwardedProto) headers.push('x-forwarded-proto', 'http');
  if (toCanary) headers.push(HOP_HEADER, '1');
  return { headers: connection === undefined ? headers : withoutNamed(headers, connection), hasBody };
}

export function responseHeaders(
  raw: readonly Buffer[],
  destination: Destination,
  role: Role,
  closeConnection: boolean,
): string[] {
  const headers: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const lower = name.toLowerCase();
    if (RESPONSE_DROPPED.has(lower)) {
      if (lower === 'connection') connection = (raw[i + 1] as Buffer).toString('latin1');
      continue;
    }
    headers.push(name, (raw[i + 1] as Buffer).toString('latin1'));
  }
  headers.push(ROUTE_HEADER, destination === 'canary' ? 'canary' : role);
  if (closeConnection) headers.push('connection', 'close');
  return connection === undefined ? headers : withoutNamed(headers, connection);
}

/** Drops the headers a Connection header names: they are hop-by-hop too. */
function withoutNamed(headers: string[], connection: string): string[] {
  // The common values name no other header.
  if (connection === 'keep-alive' || connection === 'close') return headers;
  const named = new Set(
    connection
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== 'close' && s !== 'keep-alive' && s !== ''),
  );
  if (named.size === 0) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!named.has((headers[i] as string).toLowerCase()))
      out.push(headers[i] as string, headers[i + 1] as string);
  }
  return out;
}
