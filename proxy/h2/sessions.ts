import http2 from 'node:http2';
import net from 'node:net';
import { UpstreamError } from '../upstream.js';

/**
 * One HTTP/2 connection to an upstream that speaks it (an h2c or gRPC app, or a canary's proxy in front
 * of one): every call to that origin is a stream on it. A session that goes away (GOAWAY, a reset
 * connection, an idle close) is replaced by a new connection for the next call; the streams it carried
 * finish or fail on their own.
 */

export interface SessionOptions {
  /** The most time to wait for the TCP connection. */
  connectTimeoutMs: number;
}

/** Told once the session can take streams, or why it never will. */
export type SessionWaiter = (session: http2.ClientHttp2Session | UpstreamError) => void;

export class H2Origin {
  private session: http2.ClientHttp2Session | undefined;
  private waiters: SessionWaiter[] = [];
  private closed = false;
  /** Sessions still open, the current one and those going away, for close(). */
  private readonly open = new Set<http2.ClientHttp2Session>();

  constructor(
    readonly authority: string,
    private readonly options: SessionOptions,
  ) {}

  /**
   * Calls `then` with a connected session: at once when there is one, else once a new connection is up,
   * or with the error that kept it from coming up (nothing was sent then).
   */
  withSession(then: SessionWaiter): void {
    let session = this.session;
    if (session !== undefined && (session.closed || session.destroyed)) session = this.session = undefined;
    if (session !== undefined && !session.connecting) return then(session);
    this.waiters.push(then);
    if (session === undefined) this.connect();
  }

  /** The session failed a stream before it opened (GOAWAY, out of stream ids): never offered again. */
  retire(session: http2.ClientHttp2Session): void {
    if (this.session === session) this.session = undefined;
    if (!session.closed) session.close();
  }

  /** Lets the streams under way finish, then closes every connection; no new one is made. */
  close(): void {
    this.closed = true;
    this.session = undefined;
    for (const session of this.open) session.close();
  }

  private connect(): void {
    if (this.closed) return this.flush(new UpstreamError('ConnectRefused'));
    const url = new URL(this.authority);
    const session = http2.connect(this.authority, {
      // The app's answers are relayed, never pushed.
      settings: { enablePush: false, initialWindowSize: 1024 * 1024 },
      createConnection: () =>
        net.connect({
          host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: Number(url.port || 80),
          noDelay: true,
        }),
    });
    this.session = session;
    this.open.add(session);
    const timer = setTimeout(
      () => session.destroy(new UpstreamError('ConnectTimeout')),
      this.options.connectTimeoutMs,
    );
    let connected = false;
    // Waiters belong to the session being connected; a session that fails before it connects fails them.
    const failWaiters = (err: UpstreamError): void => {
      if (connected || this.session !== session) return;
      this.session = undefined;
      this.flush(err);
    };
    session.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      this.flush(session);
    });
    session.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      failWaiters(connectError(err));
    });
    session.once('goaway', () => {
      if (this.session === session) this.session = undefined;
    });
    session.once('close', () => {
      clearTimeout(timer);
      this.open.delete(session);
      // Closed before it ever connected, without an error event: nothing was sent.
      failWaiters(new UpstreamError('ConnectRefused'));
      if (this.session === session) this.session = undefined;
    });
    // An idle connection to the app never keeps the process alive.
    session.unref();
  }

  private flush(result: http2.ClientHttp2Session | UpstreamError): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter(result);
  }
}

function connectError(err: NodeJS.ErrnoException): UpstreamError {
  if (err instanceof UpstreamError) return err;
  return new UpstreamError(err.code === 'ETIMEDOUT' ? 'ConnectTimeout' : 'ConnectRefused', { cause: err });
}
