import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { Call, type CallContext } from './call.js';
import { H1Incoming, H2Incoming } from './incoming.js';

/**
 * The proxy's HTTP/2 side: the connections that opened with the HTTP/2 preface, and, when the app speaks
 * HTTP/2, the HTTP/1.1 ones too (read by Node's server and translated; the hand-tuned HTTP/1.1 path of
 * connection.ts forwards only to an HTTP/1.1 app). Every request becomes a Call.
 */

export interface FrontOptions {
  /** A connection with no stream under way is closed (GOAWAY) after this long. */
  clientIdleMs: number;
  /** Longest time an HTTP/1.1 client may take to send a request head. */
  headersTimeoutMs: number;
}

export class H2Front {
  private readonly h2: http2.Http2Server;
  private readonly h1: http.Server | undefined;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly clientAddresses = new WeakMap<http2.ServerHttp2Session, string | undefined>();
  /** HTTP/1.1 connections and how many requests each has under way. */
  private readonly h1Sockets = new Map<net.Socket, number>();
  private draining = false;

  constructor(
    private readonly context: CallContext,
    options: FrontOptions,
  ) {
    this.h2 = http2.createServer({
      // What the client may send at once before the proxy reads it: HTTP/2's default window per stream
      // is 64 KiB, too small for a stream of large messages over any distance.
      settings: { initialWindowSize: 1024 * 1024, enablePush: false },
    });
    this.h2.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      this.clientAddresses.set(session, session.socket.remoteAddress);
      session.on('error', () => {
        // 'close' follows; the streams it carried hear of it themselves.
      });
      session.once('close', () => this.sessions.delete(session));
      // Idle (no frame either way) this long: GOAWAY, letting any stream under way finish.
      session.setTimeout(options.clientIdleMs, () => session.close());
      if (this.draining) session.close();
    });
    this.h2.on('sessionError', () => undefined);
    this.h2.on('stream', (stream, headers, _flags, rawHeaders: string[]) => {
      const incoming = new H2Incoming(
        stream,
        headers,
        rawHeaders,
        this.clientAddresses.get(stream.session as http2.ServerHttp2Session),
      );
      new Call(incoming, this.context).start();
    });

    if (context.appProtocol !== 'http') {
      this.h1 = http.createServer(
        {
          // A request body may stream as long as it likes, as on the HTTP/1.1 path; a head may not.
          requestTimeout: 0,
          headersTimeout: options.headersTimeoutMs,
          keepAliveTimeout: options.clientIdleMs,
        },
        (req, res) => this.onH1Request(req, res),
      );
      // Node's server times a request head only on a socket it accepted itself: a connection quiet this
      // long (nothing either way) is closed instead, as the HTTP/1.1 path closes an idle one.
      this.h1.setTimeout(options.clientIdleMs);
      this.h1.on('clientError', (_err, socket: net.Socket) => {
        if (socket.writable)
          socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        else socket.destroy();
      });
    }
  }

  /** Takes a connection that opened with the HTTP/2 preface (still unread on the socket). */
  acceptHttp2(socket: net.Socket): void {
    this.h2.emit('connection', socket);
  }

  /** True when HTTP/1.1 connections are the front's (the app speaks HTTP/2). */
  get takesHttp1(): boolean {
    return this.h1 !== undefined;
  }

  /** Takes an HTTP/1.1 connection (its first bytes unshifted back onto the paused socket). */
  acceptHttp1(socket: net.Socket): void {
    const h1 = this.h1 as http.Server;
    this.h1Sockets.set(socket, 0);
    socket.once('close', () => this.h1Sockets.delete(socket));
    h1.emit('connection', socket);
    socket.resume();
  }

  /** GOAWAY to every HTTP/2 client; HTTP/1.1 connections close once their answer is sent. */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
    for (const [socket, busy] of this.h1Sockets) if (busy === 0) socket.end();
  }

  private onH1Request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    this.h1Sockets.set(socket, (this.h1Sockets.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const busy = (this.h1Sockets.get(socket) ?? 1) - 1;
      if (this.h1Sockets.has(socket)) this.h1Sockets.set(socket, busy);
      if (this.draining && busy === 0) socket.end();
    });
    if (this.draining) res.shouldKeepAlive = false;
    new Call(new H1Incoming(req, res), this.context).start();
  }
}
