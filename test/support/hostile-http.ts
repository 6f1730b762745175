import net from 'node:net';

/**
 * Malformed and hostile HTTP/1.1 requests for fuzzing the proxy, each with the answers it may get. The
 * expectations follow RFC 9112 and what Node's own server does with the same bytes (both use llhttp,
 * strict): bytes whose framing is ambiguous or broken are answered 400 and the connection closed (RFC 9112
 * 6.1 and 6.3: a server MUST answer 400 to a Transfer-Encoding whose last coding is not chunked, and to an
 * invalid Content-Length; 5.2: obs-fold is refused with 400; 2.2: a bare CR is refused), a request head
 * over the limit is answered 431 (RFC 6585), and a request that frames itself one way only is forwarded.
 *
 * A request that would smuggle a second one carries it with a path starting `/smuggled`; the app must
 * never see such a path.
 */

export type HostileClass = 'framing' | 'header size' | 'smuggling' | 'slow client' | 'early close';

/** What came back: a status code, `closed` (the connection closed with no answer) or `hung`. */
export type Outcome = number | 'closed' | 'hung';

export interface HostileRequest {
  kind: HostileClass;
  shape: string;
  /** Written in turn, `gapMs` apart. */
  pieces: string[];
  gapMs: number;
  /** After writing: wait for the answer, or half-close (FIN), or reset. */
  then: 'read' | 'end' | 'destroy';
  /** Answers that are right for this shape; `destroy` shapes read nothing and expect nothing. */
  expect: readonly Outcome[];
}

export const SMUGGLED_PATH = '/smuggled';

export function hostileRequests(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const caseOf = (name: string) =>
    pick([name, name.toLowerCase(), name.toUpperCase(), name.replace(/^./, (c) => c.toUpperCase())]);
  const path = () => `/${int(1e6).toString(36)}`;
  const head = (lines: string[], method = 'POST', target = path()) =>
    `${method} ${target} HTTP/1.1\r\nhost: app\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
  const smuggled = () => `GET ${SMUGGLED_PATH}-${int(1e6)} HTTP/1.1\r\nhost: app\r\n\r\n`;
  const chunked = (body: string) => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
  const one = (
    kind: HostileClass,
    shape: string,
    pieces: string[],
    expect: readonly Outcome[],
    then: HostileRequest['then'] = 'read',
    gapMs = 0,
  ): HostileRequest => ({ kind, shape, pieces, expect, then, gapMs });
  const refused = (kind: HostileClass, shape: string, bytes: string) => one(kind, shape, [bytes], [400]);

  const framing = (): HostileRequest => {
    const te = caseOf('Transfer-Encoding');
    const cl = caseOf('Content-Length');
    switch (int(16)) {
      case 0: {
        const size = pick(['zz', '-1', '0x5', 'fffffffffffffffff1', '', '5 5', '+5']);
        return refused(
          'framing',
          'bad chunk size',
          head([`${te}: chunked`]) + `${size}\r\nhello\r\n0\r\n\r\n`,
        );
      }
      case 1:
        return refused(
          'framing',
          'chunk without its CRLF',
          head([`${te}: chunked`]) + '5\r\nhelloXX0\r\n\r\n',
        );
      case 2:
        return refused('framing', 'CL and TE', head([`${cl}: 5`, `${te}: chunked`]) + chunked('hello'));
      case 3:
        return refused('framing', 'two different CL', head([`${cl}: 5`, `${cl}: 6`]) + 'hello!');
      case 4: {
        const value = pick(['+5', '5x', '-1', '0x5', '5 5', '99999999999999999999', '5,6']);
        return refused('framing', 'invalid CL', head([`${cl}: ${value}`]) + 'hello');
      }
      case 5:
        return refused('framing', 'obs-fold', head(['x-folded: a', ' b'], 'GET'));
      case 6:
        return refused(
          'framing',
          'bare LF',
          pick(['GET / HTTP/1.1\nhost: app\n\n', 'GET / HTTP/1.1\r\nhost: app\nx: y\r\n\r\n']),
        );
      case 7:
        return refused('framing', 'bare CR', 'GET / HTTP/1.1\r\nhost: app\rx: y\r\n\r\n');
      case 8: {
        const at = pick(['value', 'name', 'target']);
        const bytes =
          at === 'value'
            ? head(['x-nul: a\0b'], 'GET')
            : at === 'name'
              ? head(['x-n\0ul: a'], 'GET')
              : head([], 'GET', '/a\0b');
        return refused('framing', 'NUL', bytes);
      }
      case 9:
        return refused('framing', 'space before colon', head([`${te} : chunked`]) + chunked('hello'));
      case 10: {
        const coding = pick(['gzip', 'chunked, gzip', 'identity', 'xchunked', 'chunked;q=1']);
        return refused('framing', 'chunked not last', head([`${te}: ${coding}`]) + chunked('hello'));
      }
      case 11: {
        const line = pick([
          'GET / HTTP/1.1 extra',
          'G(T / HTTP/1.1',
          'GET / http/1.1',
          'GET / HTTP/1.',
          '\x01GET / HTTP/1.1',
        ]);
        return refused('framing', 'bad request line', `${line}\r\nhost: app\r\n\r\n`);
      }
      case 12:
        // A coding the proxy does not know, before chunked: framing is clear (chunked is last), so the proxy
        // passes the header on as Node's server would hand it to the app, which answers 501 if it must.
        return one(
          'framing',
          'unknown coding before chunked',
          [head([`${te}: ${pick(['foo', 'gzip'])}, chunked`, 'connection: close']) + chunked('hello')],
          [200],
        );
      case 13:
        // Node's parser reads these as requests (an HTTP/0.9 line, a doubled space); a newer one may not.
        return one(
          'framing',
          'lax request line',
          [`${pick(['GET /', 'GET  / HTTP/1.1'])}\r\nhost: app\r\n\r\n`],
          [200, 400],
        );
      case 14: {
        const name = pick(['bad header', 'x(y)', 'x[y]', '', 'ü']);
        return refused('framing', 'bad header name', head([`${name}: x`], 'GET'));
      }
      default:
        return refused(
          'framing',
          'bad trailer',
          head([`${te}: chunked`]) + '5\r\nhello\r\n0\r\nbad trailer\r\n\r\n',
        );
    }
  };

  const headerSize = (): HostileRequest => {
    switch (int(4)) {
      case 0:
        return one(
          'header size',
          'one header over 16 KiB',
          [head([`x-big: ${'v'.repeat(16_400 + int(4_000))}`], 'GET')],
          [431],
        );
      case 1: {
        // Node counts names and values only (not ": " and CRLF): 1,500 of these are over 16 KiB.
        const lines = Array.from({ length: 1_500 + int(500) }, (_, i) => `x-h-${i}: vvvvv`);
        return one('header size', 'many headers over 16 KiB', [head(lines, 'GET')], [431]);
      }
      case 2:
        return one(
          'header size',
          'target over 16 KiB',
          [head([], 'GET', `/${'p'.repeat(16_400 + int(4_000))}`)],
          [431],
        );
      default:
        // Under the limit, with room for the headers the proxy adds: forwarded.
        return one(
          'header size',
          'headers under the limit',
          [head([`x-big: ${'v'.repeat(8_000 + int(4_000))}`, 'connection: close'], 'GET')],
          [200],
        );
    }
  };

  const smuggling = (): HostileRequest => {
    const te = caseOf('Transfer-Encoding');
    const cl = caseOf('Content-Length');
    const second = smuggled();
    const body = `0\r\n\r\n${second}`;
    switch (int(9)) {
      case 0:
        return refused('smuggling', 'CL.TE', head([`${cl}: ${body.length}`, `${te}: chunked`]) + body);
      case 1:
        return refused(
          'smuggling',
          'TE.CL',
          head([`${te}: chunked`, `${cl}: 4`]) +
            `${(second.length + 2).toString(16)}\r\nxx${second}\r\n0\r\n\r\n`,
        );
      case 2: {
        const obfuscated = pick([
          `${te}: xchunked`,
          `${te}:\x0bchunked`,
          `${te}: chunked\r\n${te}: identity`,
          `${te}: chunked, identity`,
          ` ${te}: chunked`,
          `${te}\t: chunked`,
        ]);
        return refused('smuggling', 'TE obfuscated', head([`${cl}: ${body.length}`, obfuscated]) + body);
      }
      case 3:
        return refused('smuggling', 'CL twice', head([`${cl}: 0`, `${cl}: ${second.length}`]) + second);
      case 4:
        return refused(
          'smuggling',
          'chunk size overflow',
          head([`${te}: chunked`]) + `1${'0'.repeat(16)}5\r\nhello\r\n0\r\n\r\n${second}`,
        );
      case 5:
        return refused(
          'smuggling',
          'LF after chunk data',
          head([`${te}: chunked`]) + `5\r\nhello\n0\r\n\r\n${second}`,
        );
      case 6:
        return refused(
          'smuggling',
          'CL on a HTTP/1.0 TE',
          `POST / HTTP/1.0\r\n${te}: chunked\r\n${cl}: 3\r\n\r\n${body}`,
        );
      case 7:
        // A body that looks like a request is a body: forwarded as one, never read as a request.
        return one(
          'smuggling',
          'request in a CL body',
          [head([`${cl}: ${second.length}`, 'connection: close']) + second],
          [200],
        );
      default:
        // Two requests pipelined are two requests: both answered, the second's path is not a smuggled one.
        return one(
          'smuggling',
          'pipelined',
          [head([`${cl}: 0`], 'GET') + head(['connection: close'], 'GET', '/pipelined')],
          [200],
        );
    }
  };

  const slowClient = (): HostileRequest => {
    const bytes = head([`content-length: 11`, 'connection: close']) + 'hello world';
    const pieces: string[] = [];
    for (let at = 0; at < bytes.length;) {
      const n = 1 + int(12);
      pieces.push(bytes.slice(at, at + n));
      at += n;
    }
    // Bounded: at most a few dozen pieces 0-2 ms apart, far inside the proxy's head deadline.
    return one(
      'slow client',
      'trickled',
      pieces.slice(0, 40).concat(pieces.slice(40).join('')),
      [200],
      'read',
      int(3),
    );
  };

  const earlyClose = (): HostileRequest => {
    const full = head(['content-length: 100']) + 'x'.repeat(100);
    const cut = pick([5, 20, full.length - 110, full.length - 50, full.length - 1]);
    const partial = full.slice(0, cut);
    if (random() < 0.5) return one('early close', 'reset mid-request', [partial], [], 'destroy');
    // A FIN after part of a request: the proxy drops what it had, as Node's server does, and closes.
    return one('early close', 'FIN mid-request', [partial], ['closed', 400]);
  };

  const finish = (r: HostileRequest): HostileRequest =>
    r.kind === 'early close' && r.then === 'read' ? { ...r, then: 'end' } : r;

  return (): HostileRequest =>
    finish(pick([framing, framing, headerSize, smuggling, smuggling, slowClient, earlyClose])());
}

/** Sends one hostile request on its own connection; resolves with what came back. */
export function sendHostile(port: number, request: HostileRequest, limitMs = 10_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('hung');
    }, limitMs);
    const done = () => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(got);
      resolve(status === null ? 'closed' : Number(status[1]));
    };
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      // A forwarded request's answer may keep the connection open; a refusal must close it.
      if (/^HTTP\/1\.1 2\d\d /.test(got)) socket.destroy();
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.on('connect', async () => {
      for (const piece of request.pieces) {
        if (socket.destroyed) return;
        socket.write(piece, 'latin1');
        if (request.gapMs > 0) await new Promise((r) => setTimeout(r, request.gapMs));
      }
      if (request.then === 'end') socket.end();
      if (request.then === 'destroy') socket.destroy();
    });
  });
}
