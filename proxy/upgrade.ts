import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../src/log.js';
import { HOP_HEADER } from './router.js';

/**
 * Connection upgrades (WebSocket) pass through as raw byte streams: the request goes upstream with its
 * Connection/Upgrade headers, and on 101 the two sockets are joined. Any other answer is relayed as is.
 * Rare next to plain requests, so it uses Node's client rather than the pooled undici path.
 */
export function forwardUpgrade(
  req: http.IncomingMessage,
  client: Duplex,
  head: Buffer,
  origin: string,
  toCanary: boolean,
  logger: Logger,
): void {
  const target = new URL(origin);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && name !== HOP_HEADER) headers[name] = value;
  }
  if (toCanary) headers[HOP_HEADER] = '1';
  const upstreamReq = http.request({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers,
    agent: false,
  });
  client.on('error', () => upstreamReq.destroy());
  upstreamReq.on('upgrade', (res, upstream, upstreamHead) => {
    client.write(statusLine(res) + rawHeaderBlock(res.rawHeaders));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client).pipe(upstream);
  });
  upstreamReq.on('response', (res) => {
    // Refused upgrade: relay the answer with its body delimited by closing the connection.
    const kept = res.rawHeaders.filter((_, i, raw) =>
      i % 2 === 0
        ? !FRAMING.has((raw[i] as string).toLowerCase())
        : !FRAMING.has((raw[i - 1] as string).toLowerCase()),
    );
    client.write(statusLine(res) + rawHeaderBlock([...kept, 'connection', 'close']));
    res.pipe(client);
  });
  upstreamReq.on('error', (err) => {
    logger.warn({ err, origin }, 'upgradeFailed');
    if (client.writable) {
      client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    }
  });
  if (head.length > 0) upstreamReq.write(head);
  upstreamReq.end();
}

const FRAMING = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);

function statusLine(res: http.IncomingMessage): string {
  return `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`;
}

function rawHeaderBlock(raw: readonly string[]): string {
  let block = '';
  for (let i = 0; i < raw.length; i += 2) block += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${block}\r\n`;
}
