import net from 'node:net';
import type { Logger } from '../src/log.js';
import type { RequestLine } from './connection.js';
import { headBlock } from './headers.js';
import { createParser, isParseError, SKIP_BODY, UPGRADED } from './http1.js';
import { HOP_HEADER } from './router.js';

/**
 * Connection upgrades (WebSocket) pass through as raw byte streams: the request goes upstream on a
 * connection of its own with its Connection/Upgrade headers, and on 101 the two sockets are joined. Any
 * other answer is relayed with its body delimited by closing the connection.
 */
export function forwardUpgrade(
  client: net.Socket,
  request: RequestLine,
  head: Buffer,
  target: { host: string; port: number },
  toCanary: boolean,
  logger: Logger,
): void {
  const headers: string[] = [];
  for (let i = 0; i < request.headers.length; i += 2) {
    const name = request.headers[i] as string;
    if (name.toLowerCase() !== HOP_HEADER) headers.push(name, request.headers[i + 1] as string);
  }
  if (toCanary) headers.push(HOP_HEADER, '1');
  const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
  let switched = false;
  let answered = false;
  const parser = createParser('response', {
    onHeadersComplete: (_major, _minor, raw, _method, _url, status = 502, message = '') => {
      if (status < 200 && status !== 101) return SKIP_BODY;
      answered = true;
      if (status === 101) {
        switched = true;
        client.write(`HTTP/1.1 101 ${message}\r\n${headBlock(raw)}`);
        return UPGRADED;
      }
      const kept = [];
      for (let i = 0; i < raw.length; i += 2) {
        if (!FRAMING.has((raw[i] as string).toLowerCase())) kept.push(raw[i] as string, raw[i + 1] as string);
      }
      client.write(`HTTP/1.1 ${status} ${message}\r\n${headBlock([...kept, 'connection', 'close'])}`);
      return 0;
    },
    onBody: (chunk) => client.write(chunk),
    onMessageComplete: () => {
      if (switched) return;
      client.end();
      upstream.destroy();
    },
  });
  const onUpstreamData = (data: Buffer): void => {
    const result = parser.execute(data);
    if (isParseError(result)) {
      upstream.destroy();
      client.destroy();
      return;
    }
    if (!switched) return;
    // Joined: from here on both directions are plain bytes.
    upstream.off('data', onUpstreamData);
    parser.close();
    const rest = data.subarray(result);
    if (rest.length > 0) client.write(rest);
    upstream.pipe(client);
    client.pipe(upstream);
  };
  upstream.on('data', onUpstreamData);
  upstream.on('end', () => {
    if (!switched) {
      const result = parser.finish();
      if (isParseError(result) || !answered) client.destroy();
    }
  });
  upstream.on('error', (err) => {
    if (answered) {
      client.destroy();
      return;
    }
    logger.warn({ err, host: target.host, port: target.port }, 'upgradeFailed');
    client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  upstream.on('close', () => {
    if (switched) client.end();
  });
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headBlock(headers)}`);
  if (head.length > 0) upstream.write(head);
}

const FRAMING = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);
