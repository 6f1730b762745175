import { createRequire } from 'node:module';

/**
 * HTTP/1.1 framing for the proxy, on the parser Node's own HTTP server uses (llhttp, in C++), driven
 * directly rather than through `http.Server`. Node's server wraps every request in an IncomingMessage
 * and a ServerResponse stream pair and its client (or undici's) parses the answer again in JavaScript or
 * WebAssembly; a sidecar forwards bytes and needs none of that. Measured on this machine's kind, that
 * machinery was two thirds of the proxy's CPU per request (see docs/design.md).
 *
 * The parser is strict (no lenient flags), as Node's server is by default: a request that frames its
 * body two ways (content-length and transfer-encoding), or carries bytes llhttp does not accept, is an
 * error, so the proxy and the app behind it can never read one request differently (request smuggling).
 *
 * `HTTPParser` is reached through `_http_common`, the module Node's own `http` is built from. It is not
 * a documented API: its shape is checked once at load (`assertParserShape`), and the component tests
 * drive every callback this file relies on.
 */

export interface ParserBinding {
  new (): HttpParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}

export interface HttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  /** Bytes consumed, or an Error with a `code` (`HPE_…`) when the input is not HTTP/1.1. */
  execute(data: Buffer): number | ParseError;
  /** The peer closed: completes a body delimited by the end of the connection, or errs. */
  finish(): undefined | ParseError;
  close(): void;
  [callback: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  bytesParsed: number;
}

/**
 * Called once the request or status line and every header are in. For a response, return SKIP_BODY for
 * an answer to HEAD, UPGRADED for a 101 (what follows is no longer HTTP), else 0.
 */
export type HeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  headers: string[],
  method: number | undefined,
  url: string | undefined,
  statusCode: number | undefined,
  statusMessage: string | undefined,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

export const SKIP_BODY = 1;
export const UPGRADED = 2;

/** What Node's server allows by default (`--max-http-header-size`), so the proxy refuses no more and no less. */
export const MAX_HEADER_BYTES = 16 * 1024;

const common = createRequire(import.meta.url)('_http_common') as {
  HTTPParser: ParserBinding;
  methods: string[];
};
const Binding = common.HTTPParser;
/** Method names by the parser's method number. */
export const METHODS: readonly string[] = common.methods;

function assertParserShape(): void {
  const proto = (Binding as unknown as { prototype: Record<string, unknown> } | undefined)?.prototype;
  for (const name of ['initialize', 'execute', 'finish', 'close'])
    if (typeof proto?.[name] !== 'function')
      throw new Error(
        `this Node.js has no HTTP parser with ${name}(): sluice proxy needs Node.js 22, 24 or 26`,
      );
}
assertParserShape();

export interface ParserCallbacks {
  onHeadersComplete: HeadersComplete;
  onBody: (chunk: Buffer) => void;
  onMessageComplete: () => void;
}

/**
 * A parser for requests or responses. Headers that arrive in more than one `execute` are handed over
 * early in batches (`kOnHeaders`) when they are many; they are gathered here and prepended, as Node does.
 */
export function createParser(kind: 'request' | 'response', callbacks: ParserCallbacks): HttpParser {
  const parser = new Binding();
  parser.initialize(
    kind === 'request' ? Binding.REQUEST : Binding.RESPONSE,
    {},
    MAX_HEADER_BYTES,
    Binding.kLenientNone,
  );
  let earlyHeaders: string[] = [];
  let earlyUrl = '';
  parser[Binding.kOnHeaders] = (headers: string[], url: string) => {
    for (const h of headers) earlyHeaders.push(h);
    earlyUrl += url;
  };
  const onHeadersComplete = callbacks.onHeadersComplete;
  parser[Binding.kOnHeadersComplete] = ((
    major,
    minor,
    headers: string[] | undefined,
    method,
    url: string | undefined,
    ...rest: [number | undefined, string | undefined, boolean, boolean]
  ) => {
    if (headers === undefined || earlyHeaders.length > 0) {
      headers = headers === undefined ? earlyHeaders : [...earlyHeaders, ...headers];
      earlyHeaders = [];
    }
    if (url === undefined || earlyUrl !== '') {
      url = earlyUrl + (url ?? '');
      earlyUrl = '';
    }
    return onHeadersComplete(major, minor, headers, method, url, ...rest);
  }) as HeadersComplete;
  parser[Binding.kOnBody] = callbacks.onBody;
  parser[Binding.kOnMessageComplete] = callbacks.onMessageComplete;
  return parser;
}

export function isParseError(result: unknown): result is ParseError {
  return result instanceof Error;
}

/** Frames one chunk of a chunked body. */
export function chunkHeader(length: number): string {
  return `${length.toString(16)}\r\n`;
}

export const LAST_CHUNK = '0\r\n\r\n';
