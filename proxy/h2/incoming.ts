import type http from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import { resetStream } from './reset.js';

/**
 * The client's side of a call, whichever protocol it came in: an HTTP/2 stream, or (when the app speaks
 * HTTP/2) an HTTP/1.1 request read by Node's server. The call reads the request through this and writes
 * the answer back through it.
 */

/** Header fields by lower-case name. */
export type HeaderFields = Record<string, string | string[] | undefined>;

export interface Incoming {
  readonly method: string;
  readonly path: string;
  /** The request's authority (`:authority`, else `host`), if it named one. */
  readonly authority: string | undefined;
  /** Lower-case names; repeated fields as arrays, cookies joined with `; `; pseudo-headers may be among them. */
  readonly headers: HeaderFields;
  /** The same as a flat [name, value, …] list, for an HTTP/1.1 upstream. */
  readonly rawHeaders: readonly string[];
  readonly clientAddress: string | undefined;
  /** False when the request ended with its headers. */
  readonly hasBody: boolean;
  /** The request body: read by 'data' and 'end', paused while the upstream is not ready for it. */
  readonly body: Readable;
  /** The request's trailers, once its body ended (HTTP/2 clients rarely send any). */
  readonly trailers: HeaderFields | undefined;
  /** The response head went out. */
  readonly responded: boolean;
  /** `expectTrailers`: the answer may end with trailers, so the head must not close the stream. */
  respond(status: number, headers: HeaderFields, endStream: boolean, expectTrailers: boolean): void;
  /** Asks a client that sent `expect: 100-continue` for its body. */
  sendContinue(): void;
  write(chunk: Buffer): boolean;
  whenDrained(then: () => void): void;
  /** Ends the answer, with the upstream's trailers if it sent any. */
  end(trailers?: HeaderFields): void;
  /** Cuts the answer: an HTTP/2 client sees the stream reset with `code`, an HTTP/1.1 one a broken connection. */
  reset(code: number): void;
  /** `then` runs once if the client goes away (resets the stream, closes the connection) before the answer ended. */
  onGone(then: () => void): void;
}

/** A request stream of an HTTP/2 client. */
export class H2Incoming implements Incoming {
  readonly method: string;
  readonly path: string;
  readonly authority: string | undefined;
  /** Node's own object, pseudo-headers and all (names beginning with `:` are never a user's). */
  readonly headers: HeaderFields;
  readonly hasBody: boolean;
  trailers: HeaderFields | undefined;
  private pendingTrailers: HeaderFields | undefined;
  private ended = false;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    requestHeaders: http2.IncomingHttpHeaders,
    private readonly raw: readonly string[],
    readonly clientAddress: string | undefined,
  ) {
    this.method = (requestHeaders[':method'] as string | undefined) ?? 'GET';
    this.path = (requestHeaders[':path'] as string | undefined) ?? '/';
    this.authority =
      (requestHeaders[':authority'] as string | undefined) ?? (requestHeaders.host as string | undefined);
    this.headers = requestHeaders;
    this.hasBody = !stream.endAfterHeaders;
    stream.on('trailers', (trailers: http2.IncomingHttpHeaders) => {
      this.trailers = trailers;
    });
    stream.on('wantTrailers', () => stream.sendTrailers(this.pendingTrailers ?? {}));
    stream.on('error', () => {
      // 'close' follows, with the stream's reset code.
    });
  }

  get body(): Readable {
    return this.stream;
  }

  /** Built only for an HTTP/1.1 upstream. */
  get rawHeaders(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.raw.length; i += 2)
      if ((this.raw[i] as string).charCodeAt(0) !== 58)
        out.push(this.raw[i] as string, this.raw[i + 1] as string);
    return out;
  }

  get responded(): boolean {
    return this.stream.headersSent;
  }

  respond(status: number, headers: HeaderFields, endStream: boolean, expectTrailers: boolean): void {
    headers[':status'] = String(status);
    this.ended = endStream;
    this.stream.respond(headers, { endStream, waitForTrailers: expectTrailers && !endStream });
  }

  sendContinue(): void {
    this.stream.additionalHeaders({ ':status': 100 });
  }

  write(chunk: Buffer): boolean {
    return this.stream.write(chunk);
  }

  whenDrained(then: () => void): void {
    whenDrained(this.stream, then);
  }

  end(trailers?: HeaderFields): void {
    if (this.ended) return;
    this.ended = true;
    this.pendingTrailers = trailers;
    this.stream.end();
  }

  reset(code: number): void {
    this.ended = true;
    resetStream(this.stream, code);
  }

  onGone(then: () => void): void {
    this.stream.once('close', () => {
      if (!this.ended || !this.stream.writableFinished) then();
    });
  }
}

/** A request of an HTTP/1.1 client, read by Node's server (when the app speaks HTTP/2). */
export class H1Incoming implements Incoming {
  readonly method: string;
  readonly path: string;
  readonly authority: string | undefined;
  readonly headers: HeaderFields;
  readonly rawHeaders: readonly string[];
  readonly clientAddress: string | undefined;
  readonly hasBody: boolean;
  private ended = false;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
  ) {
    this.method = req.method ?? 'GET';
    this.path = req.url ?? '/';
    this.authority = req.headers.host;
    this.headers = req.headers;
    this.rawHeaders = req.rawHeaders;
    this.clientAddress = req.socket.remoteAddress;
    const length = req.headers['content-length'];
    this.hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    res.on('error', () => {
      // 'close' follows.
    });
  }

  get body(): Readable {
    return this.req;
  }

  get trailers(): HeaderFields | undefined {
    return this.req.complete && Object.keys(this.req.trailers).length > 0 ? this.req.trailers : undefined;
  }

  get responded(): boolean {
    return this.res.headersSent;
  }

  respond(status: number, headers: HeaderFields, endStream: boolean): void {
    // An HTTP/2 app's `:status` is among them: HTTP/1.1 writes it in the status line.
    const fields: http.OutgoingHttpHeaders = {};
    for (const name of Object.keys(headers))
      if (headers[name] !== undefined && name.charCodeAt(0) !== 58) fields[name] = headers[name];
    this.res.writeHead(status, fields);
    if (endStream) {
      this.ended = true;
      this.res.end();
    }
  }

  sendContinue(): void {
    // Node's server answered `Expect` itself before the request was handed over (100, or 417).
  }

  write(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  whenDrained(then: () => void): void {
    whenDrained(this.res, then);
  }

  end(trailers?: HeaderFields): void {
    if (this.ended) return;
    this.ended = true;
    // Trailers go out only on a chunked answer, which is what an answer without a length gets.
    if (trailers !== undefined && Object.keys(trailers).length > 0) {
      const fields: Record<string, string> = {};
      for (const [name, value] of Object.entries(trailers))
        if (value !== undefined) fields[name] = Array.isArray(value) ? value.join(', ') : value;
      this.res.addTrailers(fields);
    }
    this.res.end();
  }

  reset(): void {
    this.ended = true;
    this.res.destroy();
  }

  onGone(then: () => void): void {
    this.res.once('close', () => {
      if (!this.res.writableFinished) then();
    });
  }
}

/** Runs `then` once the stream can take more writes, or is gone. */
function whenDrained(stream: NodeJS.WritableStream & NodeJS.EventEmitter, then: () => void): void {
  const once = (): void => {
    stream.off('drain', once);
    stream.off('close', once);
    then();
  };
  stream.on('drain', once);
  stream.on('close', once);
}
