import http2 from 'node:http2';
import type { Logger } from '../../src/log.js';
import { requestHeaders, responseHeaders, headerLines, ROUTE_HEADER } from '../headers.js';
import { chunkHeader, LAST_CHUNK } from '../http1.js';
import type { ProxyMetrics } from '../metrics.js';
import { HOP_HEADER, type CompiledRoute, type Destination, type HeaderReader, type Role } from '../router.js';
import {
  UpstreamError,
  type UpstreamConnection,
  type UpstreamErrorCode,
  type UpstreamListener,
  type UpstreamPool,
} from '../upstream.js';
import {
  encodeGrpcMessage,
  GRPC_STATUS,
  grpcStatusFromHttp,
  grpcStatusFromReset,
  isGrpc,
  parseGrpcTimeout,
  readGrpcStatus,
} from './grpc.js';
import type { HeaderFields, Incoming } from './incoming.js';
import { resetStream } from './reset.js';
import type { H2Origin } from './sessions.js';

/**
 * One request forwarded on the HTTP/2 side of the proxy: from an HTTP/2 client to the app over HTTP/2 or
 * HTTP/1.1 (as the app speaks), or from an HTTP/1.1 client to an app that speaks HTTP/2. Routing, the
 * loop guard, `x-sluice-route` and the metrics are the same as on the HTTP/1.1 path (connection.ts).
 *
 * Bodies stream both ways with backpressure, trailers pass through, and a reset on either side is passed
 * to the other: a client that cancels resets the upstream stream, an upstream that resets the stream is
 * seen by the client as the same reset. A gRPC call's outcome is its `grpc-status`, counted in the
 * metrics. A call goes to another upstream (the local app after the canary) only when nothing of it was
 * sent: the connection never came up, or the app refused the stream unprocessed (REFUSED_STREAM).
 */

export type AppProtocol = 'http' | 'h2c' | 'grpc';

export interface CallContext {
  readonly role: Role;
  /** What the app (and the canary) speak: HTTP/1.1 for `http`, HTTP/2 with prior knowledge otherwise. */
  readonly appProtocol: AppProtocol;
  /** host:port of the local app, for a request that named no authority. */
  readonly appAuthority: string;
  readonly upstreamTimeoutMs: number;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  route(header: HeaderReader): { destination: Destination; route: CompiledRoute };
  /** The HTTP/2 upstream of a destination (an app that speaks HTTP/2). */
  h2Origin(destination: Destination, route: CompiledRoute): H2Origin;
  /** The HTTP/1.1 upstream of a destination (an app that speaks HTTP/1.1). */
  h1Pool(destination: Destination, route: CompiledRoute): UpstreamPool;
}

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_INTERNAL_ERROR, HTTP2_HEADER_STATUS } =
  http2.constants;

/** Request body bytes held to send again if the upstream refuses the call unprocessed; as the HTTP/1.1 path holds. */
const REPLAY_BYTES = 64 * 1024;

const CLIENT_CLOSED = 499;
const BAD_GATEWAY = 502;
const GATEWAY_TIMEOUT = 504;

/** Methods that change nothing on the app: towards an HTTP/1.1 app, sent again as the HTTP/1.1 path does. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Fields never forwarded on either leg: those of one connection (RFC 9113 §8.2.2 forbids them in HTTP/2),
 * `host` (it becomes `:authority`), `expect` (answered here), and the hop header (set again towards the
 * canary). `te` is kept only as `trailers`, which gRPC requires.
 */
const REQUEST_DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
  'expect',
  HOP_HEADER,
]);
const RESPONSE_DROPPED = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  ROUTE_HEADER,
];

export class Call implements UpstreamListener {
  private destination: Destination = 'local';
  private route: CompiledRoute | undefined;
  private readonly startedAt = performance.now();
  private readonly grpc: boolean;
  /** The client's deadline (`grpc-timeout`), in ms. */
  private readonly deadlineMs: number | undefined;
  private done = false;
  /**
   * Some of the body went upstream and is no longer held: the call cannot go to another upstream. The
   * first REPLAY_BYTES are held until the answer starts, so that a call refused unprocessed (a stream
   * beyond a GOAWAY, a connection lost before the app read it) can still be sent again whole.
   */
  private bodySpent = false;
  private replay: Buffer[] | undefined = [];
  private replayBytes = 0;
  private bodyEnded = false;
  private retriedStale = false;
  private status = 0;
  private h2: http2.ClientHttp2Stream | undefined;
  private h2Trailers: http2.IncomingHttpHeaders | undefined;
  /** The HTTP/2 upstream went quiet past the upstream timeout (not for gRPC: calls have deadlines). */
  private h2TimedOut = false;
  private h1: UpstreamConnection | undefined;
  /** The pool of the first attempt, kept for the stale retry even if the route moved meanwhile. */
  private stalePool: UpstreamPool | undefined;
  private h1Chunked = false;
  private sink: BodySink | undefined;
  private readonly onBodyData = (chunk: Buffer): void => this.bodyData(chunk);
  private readonly onBodyEnd = (): void => this.bodyEnd();

  constructor(
    private readonly incoming: Incoming,
    private readonly context: CallContext,
  ) {
    this.grpc = isGrpc(incoming.headers['content-type']);
    this.deadlineMs = this.grpc ? parseGrpcTimeout(incoming.headers['grpc-timeout']) : undefined;
  }

  start(): void {
    const { incoming, context } = this;
    incoming.onGone(() => this.clientGone());
    if (incoming.method === 'CONNECT') return this.reply(405, 'a sidecar opens no tunnels');
    const expect = incoming.headers.expect;
    if (expect !== undefined) {
      if (String(expect).toLowerCase() !== '100-continue')
        return this.reply(417, 'expectation not supported');
      incoming.sendContinue();
    }
    const headers = incoming.headers;
    const { destination, route } = context.route((name) => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    });
    this.route = route;
    if (incoming.hasBody) incoming.body.pause();
    this.send(destination);
  }

  private send(destination: Destination): void {
    this.destination = destination;
    if (this.context.appProtocol === 'http') this.sendH1();
    else this.sendH2();
  }

  // ---- towards an app that speaks HTTP/2 ----

  private sendH2(): void {
    const origin = this.context.h2Origin(this.destination, this.route as CompiledRoute);
    origin.withSession((session) => {
      if (this.done) return;
      if (session instanceof UpstreamError) return this.failed(session, true, true);
      let stream: http2.ClientHttp2Stream;
      try {
        // A gRPC request never ends with trailers (its spec): the request ends with its last message,
        // without the round trip through 'wantTrailers' and the empty frame that would carry none.
        stream = session.request(this.h2RequestHeaders(), {
          endStream: !this.incoming.hasBody,
          waitForTrailers: this.incoming.hasBody && !this.grpc,
        });
      } catch (err) {
        // A session going away as the call arrived (GOAWAY, out of stream ids): nothing was sent.
        origin.retire(session);
        return this.failed(new UpstreamError('Reset', { cause: err }), true, true);
      }
      this.h2 = stream;
      stream.on('response', (headers, flags) => this.h2Response(headers, flags));
      stream.on('data', (chunk: Buffer) => this.responseData(chunk));
      stream.on('trailers', (trailers) => {
        this.h2Trailers = trailers;
      });
      stream.on('end', () => this.responseEnd(this.h2Trailers));
      stream.on('error', () => {
        // 'close' follows, with the reset code.
      });
      stream.on('close', () => this.h2Closed(stream, origin, session));
      if (!this.grpc) {
        // As on the HTTP/1.1 path: the longest wait for the answer, or between two pieces of it. A gRPC
        // call has its own deadline, and a stream of events may be quiet for as long as it likes.
        stream.setTimeout(this.context.upstreamTimeoutMs, () => {
          this.h2TimedOut = true;
          resetStream(stream, NGHTTP2_CANCEL);
        });
      }
      if (this.incoming.hasBody) {
        if (!this.grpc)
          stream.on('wantTrailers', () => stream.sendTrailers(forwardable(this.incoming.trailers)));
        this.attachBody({
          write: (chunk) => stream.write(chunk),
          end: () => stream.end(),
          whenDrained: (then) => whenDrained(stream, then),
          gone: () => stream.destroyed,
        });
      }
    });
  }

  private h2RequestHeaders(): http2.OutgoingHttpHeaders {
    const { incoming, context } = this;
    const out: http2.OutgoingHttpHeaders = {
      ':method': incoming.method,
      ':path': incoming.path,
      ':scheme': 'http',
      ':authority': incoming.authority ?? context.appAuthority,
    };
    let forwardedFor: string | undefined;
    const headers = incoming.headers;
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined || name.charCodeAt(0) === 58 || REQUEST_DROPPED.has(name)) continue;
      if (name === 'te') {
        if (value === 'trailers') out.te = value;
      } else if (name === 'x-forwarded-for') forwardedFor = Array.isArray(value) ? value.join(', ') : value;
      else out[name] = value;
    }
    const client = incoming.clientAddress ?? 'unknown';
    out['x-forwarded-for'] = forwardedFor === undefined ? client : `${forwardedFor}, ${client}`;
    out['x-forwarded-proto'] ??= 'http';
    if (this.destination === 'canary') out[HOP_HEADER] = '1';
    return out;
  }

  private h2Response(
    headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader,
    flags: number,
  ): void {
    if (this.done) return;
    const status = Number(headers[HTTP2_HEADER_STATUS]);
    this.status = status;
    this.stopReplay();
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const fields = this.responseFields(headers);
    try {
      this.incoming.respond(status, fields, endStream, true);
    } catch (err) {
      return this.badResponse(err);
    }
    if (endStream) {
      // Trailers-only (a gRPC error without messages): the status is in the headers.
      this.finish(headers);
    }
  }

  /**
   * The app's response fields for the client, in Node's object for them (made for this event alone).
   * `:status` stays (respond() writes it again) and no other pseudo-header gets past nghttp2 into a
   * response, so only the dropped names are looked up: Node's header objects are dictionaries, whose
   * keys cost more to list than a few lookups (about twice as much, in a loop over such objects).
   */
  private responseFields(headers: http2.IncomingHttpHeaders): HeaderFields {
    dropFields(headers);
    headers[ROUTE_HEADER] = this.destination === 'canary' ? 'canary' : this.context.role;
    return headers;
  }

  private h2Closed(
    stream: http2.ClientHttp2Stream,
    origin: H2Origin,
    session: http2.ClientHttp2Session,
  ): void {
    if (this.done || this.h2 !== stream) return;
    this.detachBody();
    const rstCode = stream.rstCode ?? NGHTTP2_INTERNAL_ERROR;
    if (this.h2TimedOut)
      return this.failed(
        new UpstreamError(this.status === 0 ? 'HeadersTimeout' : 'BodyTimeout'),
        this.status === 0,
      );
    if (this.status === 0 && rstCode === NGHTTP2_REFUSED_STREAM) {
      // Refused unprocessed (RFC 9113 §8.7), e.g. beyond a GOAWAY's last stream: nothing was acted on.
      if (session.closed || session.destroyed) origin.retire(session);
      return this.failed(new UpstreamError('Reset'), true, true);
    }
    const sessionGone = session.destroyed && rstCode !== NGHTTP2_CANCEL;
    if (this.status === 0 && sessionGone) return this.failed(new UpstreamError('ClosedEarly'), true);
    // The app reset the stream: the client sees the same reset.
    this.done = true;
    this.record(
      this.status === 0 ? BAD_GATEWAY : this.status,
      this.grpc ? grpcStatusFromReset(rstCode) : undefined,
    );
    this.incoming.reset(rstCode);
  }

  // ---- towards an app that speaks HTTP/1.1 ----

  private sendH1(): void {
    const pool = this.stalePool ?? this.context.h1Pool(this.destination, this.route as CompiledRoute);
    this.stalePool = undefined;
    this.h1 = pool.acquire(this);
    if (this.h1.connected) this.onConnected();
  }

  onConnected(): void {
    const upstream = this.h1 as UpstreamConnection;
    const { incoming } = this;
    const raw: string[] = ['host', incoming.authority ?? this.context.appAuthority];
    const rawHeaders = incoming.rawHeaders;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string;
      // `te: trailers` means nothing to an HTTP/1.1 app; the rest of requestHeaders' list never comes in HTTP/2.
      if (name.toLowerCase() !== 'host') raw.push(name, rawHeaders[i + 1] as string);
    }
    const forwarded = requestHeaders(raw, incoming.clientAddress);
    let head = `${incoming.method} ${incoming.path} HTTP/1.1\r\n${headerLines(forwarded.headers)}`;
    if (this.destination === 'canary') head += `${HOP_HEADER}: 1\r\n`;
    // HTTP/2 frames the body itself; towards HTTP/1.1 a body of unknown length is chunked.
    this.h1Chunked = incoming.hasBody && incoming.headers['content-length'] === undefined;
    if (this.h1Chunked) head += 'transfer-encoding: chunked\r\n';
    upstream.write(`${head}\r\n`);
    if (!incoming.hasBody) return upstream.endRequest();
    this.attachBody({
      write: (chunk) => {
        if (!this.h1Chunked) return upstream.write(chunk);
        upstream.write(chunkHeader(chunk.length));
        upstream.write(chunk);
        return upstream.write('\r\n');
      },
      end: () => {
        if (this.h1Chunked) upstream.write(LAST_CHUNK);
        upstream.endRequest();
      },
      whenDrained: (then) => whenDrained(upstream.socket, then),
      gone: () => upstream.socket.destroyed,
    });
  }

  onResponseHead(status: number, _message: string, raw: string[]): boolean {
    const head = this.incoming.method === 'HEAD';
    this.status = status;
    this.stopReplay();
    const { headers } = responseHeaders(raw, this.destination, this.context.role);
    const fields: HeaderFields = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = (headers[i] as string).toLowerCase();
      if (name === 'te' || name === 'trailer') continue;
      const value = headers[i + 1] as string;
      const before = fields[name];
      if (before === undefined) fields[name] = value;
      else if (name === 'set-cookie')
        fields[name] = Array.isArray(before) ? [...before, value] : [before, value];
      else fields[name] = `${before as string}, ${value}`;
    }
    const endStream = head || status === 204 || status === 304;
    try {
      this.incoming.respond(status, fields, endStream, false);
    } catch (err) {
      this.badResponse(err);
      return true;
    }
    return head;
  }

  onResponseBody(chunk: Buffer): void {
    this.responseData(chunk);
  }

  onResponseEnd(): void {
    this.responseEnd(undefined);
  }

  onUpstreamError(err: UpstreamError, beforeResponse: boolean): void {
    if (this.done) return;
    this.detachBody();
    const upstream = this.h1;
    this.h1 = undefined;
    const unsent = err.code === 'ConnectRefused' || err.code === 'ConnectTimeout';
    const stale = upstream?.reused === true && (err.code === 'Reset' || err.code === 'ClosedEarly');
    if (
      beforeResponse &&
      stale &&
      !this.bodySpent &&
      SAFE_METHODS.has(this.incoming.method) &&
      !this.retriedStale
    ) {
      // A keep-alive connection the app closed as the request went out: once more, on a fresh connection.
      this.retriedStale = true;
      this.stalePool = upstream.pool;
      this.sendH1();
      return;
    }
    this.failed(err, beforeResponse, unsent || SAFE_METHODS.has(this.incoming.method));
  }

  // ---- the request body, towards whichever upstream ----

  private attachBody(sink: BodySink): void {
    this.sink = sink;
    if (this.replay !== undefined) for (const chunk of this.replay) sink.write(chunk);
    if (this.bodyEnded) return sink.end();
    const body = this.incoming.body;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.resume();
  }

  private detachBody(): void {
    this.sink = undefined;
    const body = this.incoming.body;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.pause();
  }

  private bodyData(chunk: Buffer): void {
    const sink = this.sink;
    if (sink === undefined || sink.gone()) return;
    const replay = this.replay;
    if (replay !== undefined) {
      this.replayBytes += chunk.length;
      if (this.replayBytes <= REPLAY_BYTES) replay.push(chunk);
      else this.stopReplay();
    }
    if (!sink.write(chunk)) {
      const body = this.incoming.body;
      body.pause();
      sink.whenDrained(() => {
        if (this.sink === sink) body.resume();
      });
    }
  }

  private bodyEnd(): void {
    this.bodyEnded = true;
    const sink = this.sink;
    if (sink !== undefined && !sink.gone()) sink.end();
  }

  /** The body can no longer be sent again: the answer started, or it outgrew what is held. */
  private stopReplay(): void {
    if (this.replay === undefined) return;
    this.replay = undefined;
    if (this.replayBytes > 0) this.bodySpent = true;
  }

  // ---- the answer, from whichever upstream ----

  private responseData(chunk: Buffer): void {
    if (this.done) return;
    if (!this.incoming.write(chunk)) {
      const h2 = this.h2;
      const h1 = this.h1;
      h2?.pause();
      h1?.pauseReading();
      this.incoming.whenDrained(() => {
        h2?.resume();
        h1?.resumeReading();
      });
    }
  }

  private responseEnd(trailers: http2.IncomingHttpHeaders | undefined): void {
    if (this.done) return;
    this.incoming.end(trailers === undefined ? undefined : forwardable(trailers));
    this.finish(trailers);
  }

  /** The answer ended; `outcome` holds its `grpc-status`, if any. */
  private finish(outcome: http2.IncomingHttpHeaders | undefined): void {
    if (this.done) return;
    this.done = true;
    let grpcStatus: number | undefined;
    if (this.grpc)
      grpcStatus =
        (outcome === undefined ? undefined : readGrpcStatus(outcome)) ?? grpcStatusFromHttp(this.status);
    this.record(this.status, grpcStatus);
  }

  // ---- failures ----

  /**
   * The upstream failed the call. Before any answer, it goes to the local app instead of the canary when
   * nothing of it was sent (`resendable`); else the client gets an answer of ours (a gRPC client, the
   * status a gRPC client would make of it), or, once the answer was under way, a cut.
   */
  private failed(err: UpstreamError, beforeResponse: boolean, resendable = false): void {
    if (this.done) return;
    this.detachBody();
    const code = err.timedOut ? GATEWAY_TIMEOUT : BAD_GATEWAY;
    if (!beforeResponse || this.incoming.responded) {
      this.done = true;
      this.record(code, this.grpc ? GRPC_STATUS.INTERNAL : undefined);
      this.incoming.reset(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (resendable && !this.bodySpent) {
      this.h2 = undefined;
      if (err.code === 'Reset' && this.context.appProtocol !== 'http' && !this.retriedStale) {
        // A session that went away as the call arrived: once more on a fresh one, same upstream.
        this.retriedStale = true;
        return this.send(this.destination);
      }
      if (this.destination === 'canary') {
        this.record(code, this.grpc ? GRPC_STATUS.UNAVAILABLE : undefined);
        this.context.metrics.fallback();
        return this.send('local');
      }
    }
    this.context.logger.warn(
      { err, destination: this.destination, method: this.incoming.method, protocol: 'http2' },
      'upstreamFailed',
    );
    const upstream = this.destination === 'canary' ? (this.route?.canary?.origin ?? 'canary') : 'local app';
    const text = `${code === GATEWAY_TIMEOUT ? 'upstream timed out' : 'upstream failed'}`;
    this.reply(code, text, { upstream, reason: err.code });
  }

  private badResponse(err: unknown): void {
    this.context.logger.warn({ err, destination: this.destination }, 'upstreamBadResponse');
    if (this.h2 !== undefined) resetStream(this.h2, NGHTTP2_CANCEL);
    this.h1?.destroy();
    this.failed(
      new UpstreamError('BadResponse' satisfies UpstreamErrorCode, { cause: err }),
      !this.incoming.responded,
    );
  }

  /** The client went away before its answer ended: the upstream's stream is reset, or its connection closed. */
  private clientGone(): void {
    if (this.done) return;
    this.done = true;
    this.detachBody();
    if (this.h2 !== undefined) resetStream(this.h2, NGHTTP2_CANCEL);
    this.h1?.destroy();
    // A gRPC client resets the call when its deadline passes: the call failed (DEADLINE_EXCEEDED), which
    // a plain cancel is not. Its deadline ran from before the request reached us: a reset within a tenth
    // of the deadline of it (20 ms at least) is taken for the deadline, allowing for the trip.
    const elapsed = performance.now() - this.startedAt;
    const deadline = this.deadlineMs;
    const exceeded = deadline !== undefined && elapsed + Math.max(20, deadline / 10) >= deadline;
    this.record(CLIENT_CLOSED, exceeded ? GRPC_STATUS.DEADLINE_EXCEEDED : undefined);
  }

  /** An answer of our own: a gRPC status to a gRPC client (trailers-only), else a short JSON body. */
  private reply(status: number, error: string, details: Record<string, string> = {}): void {
    this.done = true;
    const route = this.destination === 'canary' ? 'canary' : this.context.role;
    if (this.grpc) {
      const grpcStatus = status >= 500 ? GRPC_STATUS.UNAVAILABLE : GRPC_STATUS.INTERNAL;
      const message = `sluice: ${error}${details.upstream === undefined ? '' : ` (${details.upstream}: ${details.reason ?? ''})`}`;
      this.record(status, grpcStatus);
      this.incoming.respond(
        200,
        {
          'content-type': 'application/grpc',
          'grpc-status': String(grpcStatus),
          'grpc-message': encodeGrpcMessage(message),
          [ROUTE_HEADER]: route,
        },
        true,
        false,
      );
      return;
    }
    this.record(status);
    const text = JSON.stringify({ error, ...details });
    const head = this.incoming.method === 'HEAD';
    this.incoming.respond(
      status,
      {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
        [ROUTE_HEADER]: route,
      },
      head,
      false,
    );
    if (!head) {
      this.incoming.write(Buffer.from(text));
      this.incoming.end();
    }
  }

  private record(status: number, grpcStatus?: number): void {
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.context.metrics.call(this.destination, status, this.incoming.method, grpcStatus, seconds);
  }
}

interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
  whenDrained(then: () => void): void;
  /** The upstream is gone: what the client still sends is dropped. */
  gone(): boolean;
}

/** Deletes the fields never passed back to the client (RESPONSE_DROPPED) from Node's object of them. */
function dropFields(fields: HeaderFields): void {
  for (const name of RESPONSE_DROPPED) if (fields[name] !== undefined) Reflect.deleteProperty(fields, name);
}

/**
 * Trailers for the other leg, minus connection fields: Node's own object of them (made for that event
 * alone), changed in place. Trailers carry no pseudo-header: nghttp2 refuses one, as llhttp does a `:`.
 */
function forwardable(trailers: HeaderFields | undefined): HeaderFields {
  if (trailers === undefined) return {};
  dropFields(trailers);
  return trailers;
}

/** Runs `then` once the stream can take more writes, or is gone. */
function whenDrained(stream: NodeJS.EventEmitter, then: () => void): void {
  const once = (): void => {
    stream.off('drain', once);
    stream.off('close', once);
    then();
  };
  stream.on('drain', once);
  stream.on('close', once);
}
