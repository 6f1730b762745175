import type net from 'node:net';

/**
 * HTTP/1.1 and HTTP/2 on one cleartext port: an HTTP/2 client with prior knowledge (RFC 9113 §3.3) opens
 * with a fixed preface that no HTTP/1.1 request can begin with, so the first bytes of a connection say
 * which it speaks. The bytes read to decide are put back on the socket for whoever takes it next.
 *
 * Only prior knowledge: the `Upgrade: h2c` dance of RFC 7540 was dropped by RFC 9113, and gRPC clients
 * never use it. TLS (h2 by ALPN) is not the sidecar's: the app's port is cleartext on loopback.
 */

export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type WireProtocol = 'http1' | 'http2';

/**
 * Waits for enough of the first bytes to tell, then hands the paused socket on with the bytes unread.
 * A client that sends nothing decisive within `timeoutMs` is dropped, as one that sends no request head.
 */
export function detectProtocol(
  socket: net.Socket,
  timeoutMs: number,
  then: (protocol: WireProtocol) => void,
): void {
  let head: Buffer | undefined;
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const onData = (chunk: Buffer): void => {
    head = head === undefined ? chunk : Buffer.concat([head, chunk]);
    const n = Math.min(head.length, HTTP2_PREFACE.length);
    const prefix = head.compare(HTTP2_PREFACE, 0, n, 0, n) === 0;
    if (prefix && n < HTTP2_PREFACE.length) return;
    stop();
    socket.pause();
    socket.unshift(head);
    then(prefix ? 'http2' : 'http1');
  };
  const onGone = (): void => {
    stop();
    socket.destroy();
  };
  const stop = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('error', onGone);
  };
  socket.on('data', onData);
  socket.on('end', onGone);
  socket.on('error', onGone);
}
