import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../../src/server.js';
import { cleanupAfterEach, get, metricsText, sampleValue, startTestProxy } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

/**
 * HTTP/1.1 as the proxy frames it on each leg: bodies by length or in chunks, HTTP/1.0 clients,
 * pipelined requests, 100-continue, HEAD, many headers, and the keep-alive race with the app.
 */

const { app, defer } = cleanupAfterEach(afterEach);

async function proxyFor(appPort: number) {
  const proxy = await startTestProxy({ appPort });
  defer(() => proxy.drain());
  return proxy;
}

/** Writes each piece on its own (so that the proxy reads them apart) and reads until the proxy closes. */
function exchange(port: number, pieces: string[], gapMs = 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.on('connect', async () => {
      for (const piece of pieces) {
        socket.write(piece);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

/** An app that echoes the request body it read, with what framed it. */
function echoBody(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const framing = req.headers['transfer-encoding'] ?? `length ${req.headers['content-length'] ?? 'none'}`;
    res.end(`${framing}: ${Buffer.concat(chunks).toString()}`);
  });
}

describe('request bodies', () => {
  it('forwards a chunked body in chunks, whole', async () => {
    const proxy = await proxyFor((await app('echo', echoBody)).port);
    const answer = await exchange(proxy.port, [
      'POST /orders HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n',
      '5\r\nhello\r\n',
      '6\r\n world\r\n0\r\n\r\n',
    ]);
    expect(answer).toMatch(/^HTTP\/1.1 200 /);
    expect(answer.endsWith('chunked: hello world')).toBe(true);
  });

  it('answers Expect: 100-continue itself, then forwards the body', async () => {
    let expectSeen: string | undefined = 'not asked';
    const proxy = await proxyFor(
      (
        await app('echo', (req, res) => {
          expectSeen = req.headers.expect;
          echoBody(req, res);
        })
      ).port,
    );
    const answer = await exchange(proxy.port, [
      'PUT /x HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n',
      'data',
    ]);
    expect(answer).toMatch(/^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200 /);
    expect(answer.endsWith('length 4: data')).toBe(true);
    expect(expectSeen).toBeUndefined();
  });

  it('refuses an expectation it does not know with 417', async () => {
    const proxy = await proxyFor((await app('v1')).port);
    const answer = await exchange(proxy.port, [
      'GET / HTTP/1.1\r\nhost: x\r\nexpect: teapot\r\nconnection: close\r\n\r\n',
    ]);
    expect(answer).toMatch(/^HTTP\/1.1 417 /);
  });
});

describe('response bodies', () => {
  it('chunks again a body the app sent in chunks, and keeps the connection', async () => {
    const primary = await app('chunks', (_req, res) => {
      res.write('one,');
      setTimeout(() => res.end('two'), 20);
    });
    const proxy = await proxyFor(primary.port);
    const first = await get(`http://127.0.0.1:${proxy.port}/`);
    const second = await get(`http://127.0.0.1:${proxy.port}/`);
    expect([first.body, second.body]).toEqual(['one,two', 'one,two']);
    expect(first.headers['transfer-encoding']).toBe('chunked');
    expect(primary.connections).toBe(1);
  });

  it('delimits a body of unknown length by closing, for an HTTP/1.0 client', async () => {
    const proxy = await proxyFor(
      (
        await app('chunks', (_req, res) => {
          res.write('one,');
          res.end('two');
        })
      ).port,
    );
    const answer = await exchange(proxy.port, ['GET / HTTP/1.0\r\n\r\n']);
    expect(answer).toMatch(/^HTTP\/1.1 200 /);
    expect(answer).not.toMatch(/transfer-encoding/i);
    expect(answer).toMatch(/\r\nconnection: close\r\n/);
    expect(answer.endsWith('\r\n\r\none,two')).toBe(true);
  });

  it('forwards a body the app ends by closing its connection', async () => {
    const raw = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end'));
    });
    const port = await listen(raw, 0, '127.0.0.1');
    defer(() => new Promise((resolve) => raw.close(resolve)));
    const proxy = await proxyFor(port);
    const answer = await get(`http://127.0.0.1:${proxy.port}/`);
    expect(answer.body).toBe('until the end');
  });

  it('sends no body in answer to HEAD', async () => {
    const proxy = await proxyFor((await app('v1')).port);
    const answer = await exchange(proxy.port, [
      'HEAD / HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    ]);
    const [, head, get] = answer.split('HTTP/1.1 200 OK');
    expect(head?.endsWith('x-sluice-route: primary\r\n\r\n')).toBe(true);
    expect(get?.endsWith('\r\n\r\n2\r\nv1\r\n0\r\n\r\n')).toBe(true);
  });
});

describe('connections', () => {
  it('answers pipelined requests in the order they came', async () => {
    const proxy = await proxyFor(
      (
        await app('slow first', (req, res) => {
          // The first answer is the slowest: order comes from the proxy, not from the app.
          setTimeout(() => res.end(req.url), req.url === '/1' ? 100 : 0);
        })
      ).port,
    );
    const answer = await exchange(proxy.port, [
      'GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\nGET /3 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    ]);
    const bodies = [...answer.matchAll(/\r\n\r\n(\/\d)/g)].map((m) => m[1]);
    expect(bodies).toEqual(['/1', '/2', '/3']);
  });

  it('forwards a head of many headers that arrives in pieces', async () => {
    let seen: string[] = [];
    const proxy = await proxyFor(
      (
        await app('headers', (req, res) => {
          seen = req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i]?.startsWith('x-h'));
          res.end('ok');
        })
      ).port,
    );
    const names = Array.from({ length: 100 }, (_, i) => `x-h${i}`);
    const head = `GET /many HTTP/1.1\r\nhost: x\r\n${names.map((n) => `${n}: v\r\n`).join('')}connection: close\r\n\r\n`;
    const half = Math.floor(head.length / 2);
    const answer = await exchange(proxy.port, [head.slice(0, half), head.slice(half)]);
    expect(answer).toMatch(/^HTTP\/1.1 200 /);
    expect(seen).toEqual(names);
  });

  it('sends a safe request again on a fresh connection when a kept-alive one turns out closed', async () => {
    // An app that closes a connection without answering its second request: what a keep-alive
    // connection closed by the app as the request went out looks like to the proxy.
    let connections = 0;
    const raw = net.createServer((socket) => {
      connections++;
      let requests = 0;
      socket.on('data', () => {
        if (++requests === 2) return void socket.destroy();
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      });
    });
    const port = await listen(raw, 0, '127.0.0.1');
    defer(() => new Promise((resolve) => raw.close(resolve)));
    const proxy = await proxyFor(port);
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).status).toBe(200);
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).status).toBe(200);
    expect(connections).toBe(2);
    // A POST is not sent twice: the app may have acted on it.
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).status).toBe(200);
    const post = await get(`http://127.0.0.1:${proxy.port}/`, {}, 'POST');
    expect(post.status).toBe(502);
    const metrics = await metricsText(proxy);
    expect(sampleValue(metrics, 'sluice_proxy_requests_total', { code: '502', method: 'POST' })).toBe(1);
  });

  it('answers 408 to a client that sends its request head a byte at a time, past the limit', async () => {
    const primary = await app('v1');
    const proxy = await startTestProxy({ appPort: primary.port, headersTimeoutMs: 300 });
    defer(() => proxy.drain());
    const dribble = ['GET / HTTP/1.1\r\n', ...'x-slow: 1234567890'.split('')];
    const answer = await exchange(proxy.port, dribble, 50);
    expect(answer).toMatch(/^HTTP\/1.1 408 /);
    expect(primary.requests).toBe(0);
  });

  it('refuses CONNECT: a sidecar is no tunnel to elsewhere', async () => {
    const proxy = await proxyFor((await app('v1')).port);
    const answer = await exchange(proxy.port, ['CONNECT example:443 HTTP/1.1\r\nhost: example:443\r\n\r\n']);
    expect(answer).toMatch(/^HTTP\/1.1 405 /);
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).body).toBe('v1');
  });
});

describe('what the review of the raw-socket proxy found', () => {
  it('never lets a Connection header take the body length away (request smuggling)', async () => {
    const seen: string[] = [];
    const primary = await app('v1', (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      echoBody(req, res);
    });
    const proxy = await proxyFor(primary.port);
    const hidden = 'GET /hidden HTTP/1.1\r\nhost: x\r\n\r\n';
    const answer = await exchange(proxy.port, [
      `POST /a HTTP/1.1\r\nhost: x\r\nconnection: content-length, close\r\ncontent-length: ${hidden.length}\r\n\r\n${hidden}`,
    ]);
    expect(answer).toMatch(/^HTTP\/1.1 200 /);
    expect(answer.endsWith(`length ${hidden.length}: ${hidden}`)).toBe(true);
    expect(seen).toEqual(['POST /a']);
  });

  it('does not time a client that reads slowly against the app', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 0x61);
    const primary = await app('big', (_req, res) => res.end(body));
    const proxy = await startTestProxy({ appPort: primary.port, upstreamTimeoutMs: 200 });
    defer(() => proxy.drain());
    const received = await new Promise<number>((resolve) => {
      const socket = net.connect(proxy.port, '127.0.0.1', () =>
        socket.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
      );
      let bytes = 0;
      socket.once('data', (d: Buffer) => {
        bytes += d.length;
        // Take nothing for far longer than the upstream timeout, then everything.
        socket.pause();
        setTimeout(() => {
          socket.on('data', (more: Buffer) => (bytes += more.length));
          socket.resume();
        }, 800);
      });
      socket.on('close', () => resolve(bytes));
    });
    expect(received).toBeGreaterThan(body.length);
    const metrics = await metricsText(proxy);
    expect(sampleValue(metrics, 'sluice_proxy_requests_total', { code: '200' })).toBe(1);
    expect(sampleValue(metrics, 'sluice_proxy_requests_total', { code: '504' })).toBe(0);
  });

  it('still times out a request to a canary withdrawn while it waits, and falls back', async () => {
    const primary = await app('v1');
    // Accepts, reads, never answers.
    let received = 0;
    const silent = net.createServer((socket) =>
      socket.on('data', (chunk: Buffer) => (received += chunk.length)),
    );
    const silentPort = await listen(silent, 0, '127.0.0.1');
    defer(
      () =>
        new Promise((resolve) => {
          silent.close(resolve);
        }),
    );
    const proxy = await startTestProxy({ appPort: primary.port, upstreamTimeoutMs: 300 });
    defer(() => proxy.drain());
    proxy.applyRoute({
      version: 'c',
      canary: { url: `http://127.0.0.1:${silentPort}`, weight: 100, match: [], segment: [], sticky: null },
    });
    const pending = get(`http://127.0.0.1:${proxy.port}/`);
    await eventually('the request to reach the canary', () => received > 0, { timeoutMs: 5_000 });
    proxy.applyRoute({ version: 'none', canary: null });
    const answer = await pending;
    expect(answer.body).toBe('v1');
  });

  it('does not send a DELETE the canary reset to the local app as well', async () => {
    const seen: string[] = [];
    const primary = await app('v1', (req, res) => {
      seen.push(`local ${req.method}`);
      res.end('v1');
    });
    const canary = await app('v2', (req, res) => {
      seen.push(`canary ${req.method}`);
      res.destroy();
    });
    const proxy = await proxyFor(primary.port);
    proxy.applyRoute({
      version: 'c',
      canary: { url: canary.url, weight: 100, match: [], segment: [], sticky: null },
    });
    expect((await get(`http://127.0.0.1:${proxy.port}/orders/1`, {}, 'DELETE')).status).toBe(502);
    expect((await get(`http://127.0.0.1:${proxy.port}/orders/1`)).body).toBe('v1');
    expect(seen).toEqual(['canary DELETE', 'canary GET', 'local GET']);
  });

  it('closes a client connection once idle past the limit, also after a slow answer, and keeps a quiet WebSocket', async () => {
    const primary = await app('v1', (req, res) => {
      if (req.url === '/upgrade') return;
      // Slower than the idle limit: the limit passes once while the exchange is under way.
      setTimeout(() => res.end('late'), 400);
    });
    primary.server.on('upgrade', (_req, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
      socket.on('data', (d) => socket.write(d));
      socket.on('end', () => socket.end());
    });
    const proxy = await startTestProxy({ appPort: primary.port, clientIdleMs: 200 });
    defer(() => proxy.drain());
    const started = Date.now();
    const answer = await exchange(proxy.port, ['GET / HTTP/1.1\r\nhost: x\r\n\r\n']);
    expect(answer).toMatch(/^HTTP\/1.1 200 [^]*late/);
    // Answered after ~400 ms, then closed by the proxy after ~200 ms idle.
    expect(Date.now() - started).toBeLessThan(2_000);
    // A switched connection quiet for longer than the idle limit stays up.
    const echoed = await new Promise<string>((resolve) => {
      const socket = net.connect(proxy.port, '127.0.0.1', () =>
        socket.write('GET /upgrade HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n'),
      );
      let out = '';
      socket.on('data', (d) => {
        out += d.toString();
        if (out.endsWith('\r\n\r\n')) setTimeout(() => socket.write('still here'), 600);
        if (out.endsWith('still here')) {
          socket.destroy();
          resolve(out);
        }
      });
    });
    expect(echoed).toMatch(/^HTTP\/1.1 101 [^]*still here$/);
  });
});
