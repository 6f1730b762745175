import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { Logger } from '../src/log.js';
import { headBlock, headerLines, requestHeaders, responseHeaders, ROUTE_HEADER } from './headers.js';
import {
  chunkHeader,
  createParser,
  isParseError,
  LAST_CHUNK,
  METHODS,
  type HttpParser,
  type ParseError,
} from './http1.js';
import type { ProxyMetrics } from './metrics.js';
import { HOP_HEADER, type CompiledRoute, type Destination, type Role } from './router.js';
import type { UpstreamConnection, UpstreamError, UpstreamListener, UpstreamPool } from './upstream.js';

/**
 * One client connection and the exchanges it carries: requests are parsed as they arrive, forwarded one
 * at a time in order (a pipelined request waits for the answer before it), and answered on the same
 * connection. The proxy is a byte forwarder: bodies stream through as they come, with backpressure both
 * ways, and are never held whole.
 */

/** What the proxy gives each connection: the route in force, the upstreams, and the shared counters. */
export interface ForwardContext {
  readonly role: Role;
  /** host:port of the local app, for a request that came without a Host. */
  readonly appAuthority: string;
  /** A client connection with nothing under way is closed after this long. */
  readonly clientIdleMs: number;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  route(rawHeaders: readonly string[]): { destination: Destination; route: CompiledRoute };
  pool(destination: Destination, route: CompiledRoute): UpstreamPool;
  /**
   * Copies a request the local app takes to the canary when the route mirrors (proxy/mirror.ts); the
   * exchange goes on at once. `lines` are the forwarded header lines.
   */
  mirror(request: RequestLine, lines: string, hasBody: boolean, route: CompiledRoute): void;
  isDraining(): boolean;
  /** Takes over a connection whose request asks to switch protocols (WebSocket). */
  upgrade(socket: net.Socket, request: RequestLine, head: Buffer, clientAddress: string | undefined): void;
  forget(connection: ClientConnection): void;
}

export interface RequestLine {
  method: string;
  url: string;
  headers: string[];
}

/** Status codes of our own: the client went away (nginx's convention), the upstream failed or timed out. */
const CLIENT_CLOSED = 499;
const BAD_GATEWAY = 502;
const GATEWAY_TIMEOUT = 504;

/** Methods that change nothing on the app (RFC 9110 §9.2.1): the only ones sent again once they may have reached it. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** After the proxy closed its side, how long a client may take to close its own. */
const CLOSE_GRACE_MS = 5_000;

/** Body bytes held while the upstream connection opens; past this the client is paused. */
const HELD_BODY_BYTES = 64 * 1024;

export class ClientConnection {
  /** The exchange being answered; later pipelined ones wait in `queue`. */
  private current: Exchange | undefined;
  private readonly queue: Exchange[] = [];
  /** The exchange whose request is being read: body bytes go to it. */
  private reading: Exchange | undefined;
  private upgrading: Exchange | undefined;
  private readonly parser: HttpParser;
  /** Answered its last: bytes still coming are dropped, and the socket goes after a grace period. */
  private closing = false;
  private closed = false;
  /** Why the client's socket is paused; it reads again when none is left. */
  private pauses = 0;
  /** When the request head being read began to arrive; 0 when none is. */
  private headSince = 0;
  /** Read once: each read of `socket.remoteAddress` asks the kernel. */
  readonly remoteAddress: string | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly context: ForwardContext,
  ) {
    this.parser = createParser('request', {
      onHeadersComplete: (_major, minor, headers, method, url, _status, _message, upgrade, keepAlive) => {
        this.headSince = 0;
        const exchange = new Exchange(this, {
          method: method === undefined ? 'GET' : (METHODS[method] ?? 'GET'),
          url: url ?? '/',
          headers,
          versionMinor: minor,
          keepAlive,
        });
        this.reading = exchange;
        if (upgrade) this.upgrading = exchange;
        else if (this.current === undefined) this.begin(exchange);
        else {
          this.queue.push(exchange);
          this.pause();
        }
        return 0;
      },
      onBody: (chunk) => this.reading?.requestBody(chunk),
      onMessageComplete: () => {
        const reading = this.reading;
        this.reading = undefined;
        reading?.requestEnd();
      },
    });
    this.remoteAddress = socket.remoteAddress;
    socket.setNoDelay(true);
    // `setTimeout(ms, callback)` would listen once; the limit must hold for the connection's whole life.
    socket.setTimeout(context.clientIdleMs);
    socket.on('timeout', () => {
      // An exchange under way has the upstream's timeouts; here only a connection with nothing under
      // way, or a client that took none of its answer for the whole period.
      if (this.idle || socket.writableNeedDrain) socket.destroy();
    });
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => {
      // 'close' follows, which is where the exchange in flight learns of it.
    });
    socket.on('close', () => this.onClose());
  }

  /** No exchange under way: nothing is lost by closing it. */
  get idle(): boolean {
    return this.current === undefined && this.reading === undefined;
  }

  /**
   * For draining: closes the connection now if idle, else after the answer under way. A request that
   * crosses the close is dropped unread (the client sees the connection close, as with any server
   * closing an idle keep-alive connection), never forwarded with nowhere to send its answer.
   */
  closeWhenIdle(): void {
    if (this.idle) this.endConnection();
  }

  /**
   * A client that takes longer than the limit to send a request head (one byte now and then keeps the
   * idle timer from firing) is answered 408 and closed, as Node's server does.
   */
  checkHeadDeadline(now: number, limitMs: number): void {
    if (this.headSince !== 0 && now - this.headSince > limitMs && !this.closing) {
      this.headSince = 0;
      this.closeWith(408);
    }
  }

  pause(): void {
    if (this.pauses++ === 0) this.socket.pause();
  }

  resume(): void {
    if (--this.pauses === 0 && !this.closed) this.socket.resume();
  }

  write(data: string | Buffer): boolean {
    return this.socket.write(data as Buffer);
  }

  /** @internal The exchange answered in full; `close` when the connection cannot carry another. */
  answered(exchange: Exchange, close: boolean): void {
    if (exchange !== this.current) return;
    this.current = undefined;
    if (close || this.context.isDraining()) {
      this.endConnection();
      return;
    }
    const next = this.queue.shift();
    if (next !== undefined) {
      this.resume();
      this.begin(next);
    }
  }

  /** Sends what is left and closes; a client that keeps its side open is cut after a grace period. */
  private endConnection(last?: string): void {
    this.closing = true;
    this.reading = undefined;
    this.queue.length = 0;
    if (last === undefined) this.socket.end();
    else this.socket.end(last);
    const socket = this.socket;
    const cut = setTimeout(() => socket.destroy(), Math.min(CLOSE_GRACE_MS, this.context.clientIdleMs));
    socket.once('close', () => clearTimeout(cut));
  }

  private begin(exchange: Exchange): void {
    this.current = exchange;
    exchange.start();
  }

  private onData(data: Buffer): void {
    if (this.closing) return;
    // Bytes outside a body start (or continue) a request head, which has a deadline of its own.
    if (this.reading === undefined && this.headSince === 0) this.headSince = performance.now();
    const result = this.parser.execute(data);
    if (isParseError(result)) return this.refuse(result);
    const upgrading = this.upgrading;
    if (upgrading !== undefined) this.switchProtocols(upgrading, data.subarray(result));
  }

  /** Bytes that are not HTTP/1.1: 400 (431 for oversized headers) when nothing is being answered, then close. */
  private refuse(err: ParseError): void {
    this.closeWith(err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400);
  }

  private closeWith(status: number): void {
    const current = this.current;
    this.reading = undefined;
    this.queue.length = 0;
    if (current !== undefined && !current.abandon(status)) {
      // An answer was under way: cut it.
      this.socket.destroy();
      return;
    }
    this.current = undefined;
    this.endConnection(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
  }

  private switchProtocols(exchange: Exchange, head: Buffer): void {
    this.upgrading = undefined;
    this.reading = undefined;
    // CONNECT asks for a tunnel to elsewhere, which a sidecar has no business with. A switch behind a
    // pipelined request has no clean place to happen, and one that carries a body has no place for it:
    // the bytes after the head belong to the new protocol.
    if (exchange.request.method === 'CONNECT') return this.closeWith(405);
    if (this.current !== undefined || exchange.hasBody) return this.closeWith(400);
    this.closed = true;
    this.parser.close();
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('close');
    this.socket.removeAllListeners('timeout');
    // A WebSocket may be quiet for as long as it likes.
    this.socket.setTimeout(0);
    this.socket.pause();
    this.context.forget(this);
    this.context.upgrade(this.socket, exchange.request, head, this.remoteAddress);
  }

  private onEnd(): void {
    // As Node's server does by default: a client that closes its side has given up on what it asked.
    this.current?.clientGone();
    this.current = undefined;
    this.reading = undefined;
    this.queue.length = 0;
    this.socket.end();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.close();
    this.current?.clientGone();
    this.current = undefined;
    this.queue.length = 0;
    this.context.forget(this);
  }
}

interface ParsedRequest extends RequestLine {
  versionMinor: number;
  keepAlive: boolean;
}

/**
 * One request and its answer. The request goes to one upstream; a canary that fails before answering
 * is replaced by the local app when the body can still be sent again (DESIGN.md, "The proxy").
 */
class Exchange implements UpstreamListener {
  private destination: Destination = 'local';
  private route: CompiledRoute | undefined;
  private upstream: UpstreamConnection | undefined;
  private startedAt = performance.now();
  /** Body bytes read before the upstream connection was open, sent once it is. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private pausedForHeld = false;
  /** Some of the body went upstream: it cannot be sent to another. */
  private bodySpent = false;
  private requestRead = false;
  private requestSent = false;
  private rechunk = false;
  private closeAfter = false;
  private done = false;
  /** The app's status, once its answer's head came; 0 before. */
  private status = 0;
  private retriedStale = false;
  /** Paused one side until the other drains: one listener each way, however many writes were refused. */
  private waitingForUpstream = false;
  private waitingForClient = false;
  /** The pool of the first attempt, kept for the stale retry even if the route moved meanwhile. */
  private pool: UpstreamPool | undefined;
  /** The forwarded header lines, without the hop header (added towards the canary) and the framing. */
  private readonly lines: string;
  readonly hasBody: boolean;
  private readonly transferEncoding: string | undefined;
  private readonly expect: string | undefined;

  constructor(
    private readonly connection: ClientConnection,
    readonly request: ParsedRequest,
  ) {
    const forwarded = requestHeaders(request.headers, connection.remoteAddress);
    // Forwarded as HTTP/1.1, which requires a Host: an HTTP/1.0 request without one names the app.
    if (!forwarded.hasHost) forwarded.headers.push('host', connection.context.appAuthority);
    this.lines = headerLines(forwarded.headers);
    this.hasBody = forwarded.hasBody;
    this.transferEncoding = forwarded.transferEncoding;
    this.expect = forwarded.expect;
  }

  start(): void {
    if (this.expect !== undefined) {
      if (this.expect.toLowerCase() !== '100-continue') {
        this.record(417);
        return this.reply(417, { error: 'expectation not supported', expect: this.expect });
      }
      // HTTP/1.0 has no 100 Continue; such a client sends its body anyway.
      if (!this.requestRead && this.request.versionMinor >= 1)
        this.connection.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    const { context } = this.connection;
    const { destination, route } = context.route(this.request.headers);
    this.route = route;
    this.send(destination);
    if (destination === 'local' && route.canary !== null && route.canary.mirrorThreshold > 0)
      context.mirror(this.request, this.lines, this.hasBody, route);
  }

  /** One attempt: a fresh start on the upstream of `destination`. */
  private send(destination: Destination): void {
    this.destination = destination;
    this.startedAt = performance.now();
    this.requestSent = false;
    const pool = this.pool ?? this.connection.context.pool(destination, this.route as CompiledRoute);
    this.pool = undefined;
    this.upstream = pool.acquire(this);
    if (this.upstream.connected) this.onConnected();
  }

  onConnected(): void {
    const upstream = this.upstream as UpstreamConnection;
    const { method, url } = this.request;
    let head = `${method} ${url} HTTP/1.1\r\n${this.lines}`;
    if (this.destination === 'canary') head += `${HOP_HEADER}: 1\r\n`;
    if (this.transferEncoding !== undefined) head += `transfer-encoding: ${this.transferEncoding}\r\n`;
    const held = this.held;
    if (held.length === 0) upstream.write(`${head}\r\n`);
    else {
      upstream.socket.cork();
      upstream.write(`${head}\r\n`);
      for (const chunk of held) this.writeBody(chunk);
      upstream.socket.uncork();
      this.held = [];
      this.heldBytes = 0;
      this.bodySpent = true;
      if (this.pausedForHeld) {
        this.pausedForHeld = false;
        this.connection.resume();
      }
    }
    if (this.requestRead) this.finishRequest();
  }

  /** @internal A piece of the request body, as the parser frees it from its framing. */
  requestBody(chunk: Buffer): void {
    if (this.done) return;
    const upstream = this.upstream;
    if (upstream === undefined || !upstream.connected) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes > HELD_BODY_BYTES && !this.pausedForHeld) {
        this.pausedForHeld = true;
        this.connection.pause();
      }
      return;
    }
    this.bodySpent = true;
    if (!this.writeBody(chunk) && !this.waitingForUpstream) {
      this.waitingForUpstream = true;
      this.connection.pause();
      whenDrained(upstream.socket, () => {
        this.waitingForUpstream = false;
        this.connection.resume();
      });
    }
  }

  /** @internal The request's last byte was read. */
  requestEnd(): void {
    this.requestRead = true;
    if (!this.done && this.upstream?.connected === true) this.finishRequest();
  }

  private writeBody(chunk: Buffer): boolean {
    const upstream = this.upstream as UpstreamConnection;
    if (this.transferEncoding === undefined) return upstream.write(chunk);
    upstream.write(chunkHeader(chunk.length));
    upstream.write(chunk);
    return upstream.write('\r\n');
  }

  private finishRequest(): void {
    if (this.requestSent) return;
    this.requestSent = true;
    const upstream = this.upstream as UpstreamConnection;
    if (this.transferEncoding !== undefined) upstream.write(LAST_CHUNK);
    upstream.endRequest();
  }

  onResponseHead(status: number, statusMessage: string, rawHeaders: string[], chunked: boolean): boolean {
    const { context } = this.connection;
    this.status = status;
    const head = this.request.method === 'HEAD';
    const { headers, hasLength, transferEncoding } = responseHeaders(
      rawHeaders,
      this.destination,
      context.role,
    );
    const bodyless = head || status === 204 || status === 304;
    const client11 = this.request.versionMinor >= 1;
    this.closeAfter = this.closesConnection();
    if (!bodyless && !hasLength) {
      // A chunked body, or one that ends with the app's connection: chunked again for an HTTP/1.1
      // client, delimited by closing the connection for an HTTP/1.0 one.
      if (client11) {
        this.rechunk = true;
        // Codings the app applied (gzip) stay named, with chunked last.
        const codings =
          transferEncoding === undefined || chunked ? transferEncoding : `${transferEncoding}, chunked`;
        headers.push('transfer-encoding', codings ?? 'chunked');
      } else this.closeAfter = true;
    }
    if (head && transferEncoding !== undefined && client11)
      headers.push('transfer-encoding', transferEncoding);
    if (this.closeAfter) headers.push('connection', 'close');
    else if (!client11) headers.push('connection', 'keep-alive');
    const socket = this.connection.socket;
    // The head and the first piece of the body leave in one write.
    socket.cork();
    process.nextTick(uncork, socket);
    this.connection.write(`HTTP/1.1 ${status} ${statusMessage}\r\n${headBlock(headers)}`);
    return head;
  }

  onResponseBody(chunk: Buffer): void {
    const connection = this.connection;
    let flushed: boolean;
    if (this.rechunk) {
      connection.write(chunkHeader(chunk.length));
      connection.write(chunk);
      flushed = connection.write('\r\n');
    } else flushed = connection.write(chunk);
    if (!flushed && this.upstream !== undefined && !this.waitingForClient) {
      const upstream = this.upstream;
      this.waitingForClient = true;
      upstream.pauseReading();
      whenDrained(connection.socket, () => {
        this.waitingForClient = false;
        upstream.resumeReading();
      });
    }
  }

  onResponseEnd(): void {
    if (this.rechunk) this.connection.write(LAST_CHUNK);
    if (this.done) return;
    this.done = true;
    this.record(this.status);
    this.connection.answered(this, this.closeAfter);
  }

  onUpstreamError(err: UpstreamError, beforeResponse: boolean): void {
    if (this.done) return;
    const { context } = this.connection;
    const code = err.timedOut ? GATEWAY_TIMEOUT : BAD_GATEWAY;
    if (!beforeResponse) {
      // The response was under way: cut it, so that the client sees a broken body, not a short one.
      this.done = true;
      this.record(code);
      this.connection.socket.destroy();
      return;
    }
    const upstream = this.upstream;
    this.upstream = undefined;
    // Sent again only when the body is still whole and the app cannot have acted on the request: it never
    // got it (no connection), or the method changes nothing.
    const unsent = err.code === 'ConnectRefused' || err.code === 'ConnectTimeout';
    const resendable = !this.bodySpent && (unsent || SAFE_METHODS.has(this.request.method));
    const stale = upstream?.reused === true && (err.code === 'Reset' || err.code === 'ClosedEarly');
    if (resendable && stale && !this.retriedStale) {
      // A keep-alive connection the app closed as the request went out: a race, not a failure of the
      // app. Once more, on a fresh connection to the same upstream.
      this.retriedStale = true;
      this.pool = upstream.pool;
      this.send(this.destination);
      return;
    }
    this.record(code);
    if (this.destination === 'canary' && resendable) {
      context.metrics.fallback();
      this.send('local');
      return;
    }
    context.logger.warn(
      { err, destination: this.destination, method: this.request.method },
      'upstreamFailed',
    );
    this.reply(code, {
      error: code === GATEWAY_TIMEOUT ? 'upstream timed out' : 'upstream failed',
      upstream: this.destination === 'canary' ? (this.route?.canary?.origin ?? 'canary') : 'local app',
      reason: err.code,
    });
  }

  /** @internal The client went away before its answer ended. */
  clientGone(): void {
    if (this.done) return;
    this.done = true;
    this.upstream?.destroy();
    this.record(CLIENT_CLOSED);
  }

  /**
   * @internal The client's bytes stopped making sense. Returns false when part of an answer was already
   * sent (the caller cuts the connection); else the exchange is dropped and the caller answers `status`.
   */
  abandon(status: number): boolean {
    if (this.done) return true;
    this.done = true;
    this.upstream?.destroy();
    this.record(status);
    return this.status === 0;
  }

  /** Answers with a short JSON body of our own; the caller has counted it. */
  private reply(status: number, body: object): void {
    const text = JSON.stringify(body);
    const { context } = this.connection;
    const close = this.closesConnection();
    const headers = [
      'content-type',
      'application/json',
      'content-length',
      String(Buffer.byteLength(text)),
      ROUTE_HEADER,
      this.destination === 'canary' ? 'canary' : context.role,
    ];
    if (close) headers.push('connection', 'close');
    // An answer to HEAD says how long the body would be, and sends none.
    const sent = this.request.method === 'HEAD' ? '' : text;
    this.connection.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${headBlock(headers)}${sent}`);
    this.done = true;
    this.connection.answered(this, close);
  }

  /** The connection cannot carry another request after this answer. */
  private closesConnection(): boolean {
    // A request not read to its end leaves the rest of its body where the next request would start.
    return !this.request.keepAlive || !this.requestRead || this.connection.context.isDraining();
  }

  private record(status: number): void {
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.connection.context.metrics.request(this.destination, status, this.request.method, seconds);
  }
}

/** Runs `then` once the socket can take more writes, or is gone. */
function whenDrained(socket: net.Socket, then: () => void): void {
  const once = (): void => {
    socket.off('drain', once);
    socket.off('close', once);
    then();
  };
  socket.on('drain', once);
  socket.on('close', once);
}

function uncork(socket: net.Socket): void {
  socket.uncork();
}
