import net from 'node:net';
import type { Logger } from '../src/log.js';
import type { RequestLine } from './connection.js';
import { headBlock, requestHeaders } from './headers.js';
import { createParser, isParseError, SKIP_BODY, UPGRADED } from './http1.js';
import type { ProxyMetrics } from './metrics.js';
import { HOP_HEADER, type Destination } from './router.js';

/**
 * Connection upgrades (WebSocket) pass through as raw byte streams: the request goes upstream on a
 * connection of its own, with the same header rewriting as any request plus its Connection/Upgrade, and
 * on 101 the two sockets are joined. Until then nothing else the client sent goes upstream, so the app
 * never reads bytes meant for the new protocol as HTTP. Any other answer is relayed with its body
 * delimited by closing the connection. Counted like any request, with the status the app answered.
 */
export interface UpgradeTarget {
  host: string;
  port: number;
  destination: Destination;
}

export interface UpgradeOptions {
  /** Longest wait for the connection and for the answer's head. */
  timeoutMs: number;
  logger: Logger;
  metrics: ProxyMetrics;
}

export function forwardUpgrade(
  client: net.Socket,
  request: RequestLine,
  head: Buffer,
  clientAddress: string | undefined,
  target: UpgradeTarget,
  options: UpgradeOptions,
): void {
  const { logger, metrics } = options;
  const startedAt = performance.now();
  const record = (status: number): void =>
    metrics.request(target.destination, status, request.method, (performance.now() - startedAt) / 1000);
  const forwarded = requestHeaders(request.headers, clientAddress);
  const headers = forwarded.headers;
  for (let i = 0; i < request.headers.length; i += 2) {
    const lower = (request.headers[i] as string).toLowerCase();
    if (lower === 'connection' || lower === 'upgrade') headers.push(lower, request.headers[i + 1] as string);
  }
  if (target.destination === 'canary') headers.push(HOP_HEADER, '1');
  const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
  upstream.setTimeout(options.timeoutMs, () => {
    logger.warn({ host: target.host, port: target.port }, 'upgradeTimedOut');
    if (!answered) {
      record(504);
      client.end('HTTP/1.1 504 Gateway Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    } else client.destroy();
    upstream.destroy();
  });
  let switched = false;
  let answered = false;
  const parser = createParser('response', {
    onHeadersComplete: (_major, _minor, raw, _method, _url, status = 502, message = '') => {
      if (status < 200 && status !== 101) return SKIP_BODY;
      answered = true;
      record(status);
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
    // Joined: from here on both directions are plain bytes, with no deadline.
    upstream.off('data', onUpstreamData);
    upstream.setTimeout(0);
    const rest = data.subarray(result);
    if (rest.length > 0) client.write(rest);
    if (head.length > 0) upstream.write(head);
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
    answered = true;
    record(502);
    logger.warn({ err, host: target.host, port: target.port }, 'upgradeFailed');
    client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  upstream.on('close', () => {
    parser.close();
    if (switched) client.end();
  });
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headBlock(headers)}`);
}

const FRAMING = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);
