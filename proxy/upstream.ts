import net from 'node:net';
import { createParser, isParseError, SKIP_BODY, UPGRADED, type HttpParser } from './http1.js';

/**
 * Keep-alive connections to one upstream (the local app, or the canary), each with its own response
 * parser. A connection carries one exchange at a time and goes back to the pool only when both the
 * request and the response ended cleanly and the app did not ask to close.
 */

/** What an exchange hears from the connection it was given. */
export interface UpstreamListener {
  /** The response head. Return true for an answer to HEAD (no body follows). */
  onResponseHead(status: number, statusMessage: string, headers: string[], chunked: boolean): boolean;
  onResponseBody(chunk: Buffer): void;
  onResponseEnd(): void;
  /** The connection failed; `beforeResponse` when not a byte of the response had arrived. */
  onUpstreamError(err: UpstreamError, beforeResponse: boolean): void;
  /** A new connection is up and takes writes. */
  onConnected(): void;
}

export type UpstreamErrorCode =
  | 'ConnectRefused'
  | 'ConnectTimeout'
  | 'HeadersTimeout'
  | 'BodyTimeout'
  | 'Reset'
  | 'ClosedEarly'
  | 'BadResponse';

/** The upstream failed an exchange: `code` says how, `cause` carries the socket or parser error. */
export class UpstreamError extends Error {
  constructor(
    readonly code: UpstreamErrorCode,
    options?: { cause?: unknown },
  ) {
    super(UPSTREAM_ERROR_TEXT[code], options);
    this.name = 'UpstreamError';
  }

  get timedOut(): boolean {
    return this.code === 'ConnectTimeout' || this.code === 'HeadersTimeout' || this.code === 'BodyTimeout';
  }
}

const UPSTREAM_ERROR_TEXT: Record<UpstreamErrorCode, string> = {
  ConnectRefused: 'the upstream refused the connection',
  ConnectTimeout: 'the upstream did not accept the connection in time',
  HeadersTimeout: 'the upstream did not answer in time',
  BodyTimeout: 'the upstream stopped sending its answer',
  Reset: 'the upstream reset the connection',
  ClosedEarly: 'the upstream closed the connection before its answer ended',
  BadResponse: 'the upstream sent something that is not an HTTP/1.1 response',
};

export interface UpstreamPoolOptions {
  host: string;
  port: number;
  /** Close an idle connection after this long: shorter than the app's own idle timeout. */
  keepAliveMs: number;
  connectTimeoutMs: number;
  /** Longest wait for the response head, and between two pieces of the body. */
  timeoutMs: number;
  /** The most idle connections kept. */
  maxIdle?: number;
}

const DEFAULT_MAX_IDLE = 256;

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class UpstreamPool {
  private readonly idle: UpstreamConnection[] = [];
  /** Connections carrying an exchange: their deadlines are checked by the sweep. */
  private readonly active = new Set<UpstreamConnection>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(readonly options: UpstreamPoolOptions) {
    // One timer for every deadline of the pool, instead of a timer armed and cleared per request.
    const every = Math.max(
      10,
      Math.min(1_000, Math.floor(Math.min(options.timeoutMs, options.keepAliveMs) / 8)),
    );
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /**
   * An idle connection (the most recently used, whose socket is the warmest), or a new one. The caller
   * writes once `connected`, or when the listener hears `onConnected`.
   */
  acquire(listener: UpstreamListener): UpstreamConnection {
    let conn = this.idle.pop();
    while (conn !== undefined && !conn.usable()) conn = this.idle.pop();
    conn ??= new UpstreamConnection(this);
    this.active.add(conn);
    conn.begin(listener);
    return conn;
  }

  /** @internal The connection finished an exchange and may carry another. */
  release(conn: UpstreamConnection): void {
    this.active.delete(conn);
    if (this.closed || this.idle.length >= (this.options.maxIdle ?? DEFAULT_MAX_IDLE)) {
      conn.destroy();
      return;
    }
    this.idle.push(conn);
  }

  /** @internal The connection is gone. */
  forget(conn: UpstreamConnection): void {
    this.active.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  private sweep(): void {
    // A closed pool (a canary withdrawn) still times out what it carries, then stops.
    if (this.closed && this.active.size === 0) clearInterval(this.sweeper);
    const now = performance.now();
    for (const conn of this.active) conn.checkDeadline(now);
    // Idle ones in the order they were released: the oldest first.
    while (
      this.idle.length > 0 &&
      now - (this.idle[0] as UpstreamConnection).idleSince > this.options.keepAliveMs
    )
      (this.idle.shift() as UpstreamConnection).destroy();
  }

  /** Closes idle connections now, busy ones once their exchange ends. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
  }
}

/** One TCP connection to the upstream and the exchange it carries, if any. */
export class UpstreamConnection {
  readonly socket: net.Socket;
  /** Served an exchange before this one: a failure before any answer may be a keep-alive race. */
  reused = false;
  connected = false;
  idleSince = 0;
  private readonly parser: HttpParser;
  private listener: UpstreamListener | undefined;
  private deadline = Infinity;
  private deadlineCode: UpstreamErrorCode = 'ConnectTimeout';
  private responseStarted = false;
  private responseEnded = false;
  private requestEnded = false;
  private keepAlive = false;
  private informational = false;
  private readingPaused = false;
  private dead = false;

  constructor(readonly pool: UpstreamPool) {
    const { host, port, connectTimeoutMs } = pool.options;
    this.deadline = performance.now() + connectTimeoutMs;
    this.parser = createParser('response', {
      onHeadersComplete: (
        _major,
        _minor,
        headers,
        _method,
        _url,
        status = 0,
        message = '',
        upgrade,
        keepAlive,
      ) => {
        // The read that brought the head set the deadline; from here it is the body's.
        this.deadlineCode = 'BodyTimeout';
        // 1xx answers (100 Continue, 103 Early Hints) are not the response: the next message is.
        if (status < 200 && status !== 101) {
          this.informational = true;
          return SKIP_BODY;
        }
        this.informational = false;
        const listener = this.listener;
        if (listener === undefined || status === 101 || upgrade) {
          // A response nobody asked for (bytes after the answer that ended), or a switch of protocols
          // on a connection that asked for none: the app and the proxy disagree on where messages
          // end, and nothing more read here can be trusted.
          this.fail('BadResponse');
          return UPGRADED;
        }
        this.responseStarted = true;
        this.keepAlive = keepAlive;
        return listener.onResponseHead(status, message, headers, isChunked(headers)) ? SKIP_BODY : 0;
      },
      onBody: (chunk) => this.listener?.onResponseBody(chunk),
      onMessageComplete: () => {
        if (this.informational) {
          this.informational = false;
          return;
        }
        this.responseEnded = true;
        this.listener?.onResponseEnd();
        // An answer that came before its request was all sent leaves this connection out of step with
        // the app: it is never reused.
        if (this.requestEnded) this.settle();
        else this.destroy();
      },
    });
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      // Reads land in one buffer shared by every upstream connection, parsed at once (the parser copies
      // out the body pieces it hands over), instead of a fresh buffer and a stream event per read.
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array) => this.onRead(length, buffer),
      },
    });
    this.socket.on('connect', () => {
      this.connected = true;
      this.touch('HeadersTimeout');
      this.listener?.onConnected();
    });
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err: NodeJS.ErrnoException) =>
      this.fail(socketErrorCode(err, this.connected), err),
    );
    this.socket.on('close', () => {
      this.fail('ClosedEarly');
      // Here, never inside a parser callback: the parser is freed once nothing can call it again.
      this.parser.close();
    });
  }

  /** Still open and fit to carry another exchange. */
  usable(): boolean {
    return !this.dead && !this.socket.destroyed && this.socket.readyState === 'open';
  }

  begin(listener: UpstreamListener): void {
    this.listener = listener;
    this.responseStarted = false;
    this.responseEnded = false;
    this.requestEnded = false;
    this.informational = false;
  }

  /** Writes part of the request; until the answer starts, the app's deadline runs from the last write. */
  write(data: Buffer | string): boolean {
    if (!this.responseStarted) this.touch('HeadersTimeout');
    return this.socket.write(data as Buffer);
  }

  /**
   * Stops reading while the client is slow to take the answer. The client's pace is not the app's
   * fault: no deadline runs meanwhile.
   */
  pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.deadline = Infinity;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.readingPaused) return;
    this.readingPaused = false;
    if (this.listener !== undefined) this.touch('BodyTimeout');
    this.socket.resume();
  }

  /** The whole request is written. */
  endRequest(): void {
    this.requestEnded = true;
    this.settle();
  }

  /** Drops the connection, e.g. when the client went away mid-exchange. */
  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.listener = undefined;
    this.pool.forget(this);
    this.socket.destroy();
  }

  /** @internal */
  checkDeadline(now: number): void {
    if (now > this.deadline) this.fail(this.connected ? this.deadlineCode : 'ConnectTimeout');
  }

  private touch(code: UpstreamErrorCode): void {
    this.deadlineCode = code;
    this.deadline = performance.now() + this.pool.options.timeoutMs;
  }

  private onRead(length: number, buffer: Uint8Array): boolean {
    if (this.listener === undefined) {
      // Bytes from an idle connection: the app broke the protocol; this socket cannot be trusted.
      this.destroy();
      return false;
    }
    this.touch(this.responseStarted ? 'BodyTimeout' : 'HeadersTimeout');
    const result = this.parser.execute(Buffer.from(buffer.buffer, buffer.byteOffset, length));
    if (isParseError(result)) this.fail('BadResponse', result);
    return true;
  }

  private onEnd(): void {
    if (this.listener !== undefined && this.responseStarted && !this.responseEnded) {
      // A body delimited by the end of the connection ends here, or is cut short.
      const result = this.parser.finish();
      if (isParseError(result)) this.fail('ClosedEarly', result);
    }
    this.keepAlive = false;
    if (this.listener === undefined) this.destroy();
    else if (!this.responseEnded) this.fail('ClosedEarly');
  }

  /** Both halves done: back to the pool when the app keeps the connection, else closed. */
  private settle(): void {
    if (!this.requestEnded || !this.responseEnded || this.listener === undefined) return;
    this.listener = undefined;
    this.deadline = Infinity;
    if (!this.keepAlive || this.dead) {
      this.destroy();
      return;
    }
    this.reused = true;
    this.idleSince = performance.now();
    // Idle, it must still hear the app close it.
    this.resumeReading();
    this.pool.release(this);
  }

  private fail(code: UpstreamErrorCode, cause?: unknown): void {
    const listener = this.listener;
    const beforeResponse = !this.responseStarted;
    this.destroy();
    listener?.onUpstreamError(new UpstreamError(code, { cause }), beforeResponse);
  }
}

function socketErrorCode(err: NodeJS.ErrnoException, connected: boolean): UpstreamErrorCode {
  if (!connected) return err.code === 'ETIMEDOUT' ? 'ConnectTimeout' : 'ConnectRefused';
  return err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'Reset' : 'ClosedEarly';
}

function isChunked(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding')
      return /(?:^|,)\s*chunked\s*$/i.test(headers[i + 1] as string);
  }
  return false;
}
