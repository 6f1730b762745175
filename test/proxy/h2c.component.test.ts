import http from 'node:http';
import http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProxyConfig, RunningProxy } from '../../proxy/proxy.js';
import { echoClient, echoService, grpc, startGrpcApp, unary } from '../support/grpc.js';
import { cleanupAfterEach, get, metricsText, sampleValue, startTestProxy } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

const { defer, app } = cleanupAfterEach(afterEach);

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
}

/** An HTTP/2 client with prior knowledge, closed after the test. */
function h2Client(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  defer(async () => {
    session.destroy();
  });
  return session;
}

function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer | string,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let answer: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (answer = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      resolve({
        status: Number(answer[':status']),
        headers: answer,
        body: Buffer.concat(chunks).toString(),
        trailers,
      }),
    );
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

/** An app that speaks HTTP/2 only (h2c), closed after the test. */
async function h2App(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<number> {
  const server = http2.createServer();
  server.on('stream', onStream);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

async function proxyFor(port: number, overrides: Partial<ProxyConfig>): Promise<RunningProxy> {
  const proxy = await startTestProxy({ ...overrides, appPort: port });
  defer(() => proxy.drain());
  return proxy;
}

describe('HTTP/1.1 and HTTP/2 clients on one port', () => {
  it('answers both at once in front of an HTTP/1.1 app, routing them alike', async () => {
    const primary = await app('v1');
    const canary = await app('v2');
    const canaryProxy = await proxyFor(canary.port, { role: 'canary' });
    const proxy = await proxyFor(primary.port, {});
    proxy.applyRoute({
      version: 'r1',
      canary: {
        url: `http://127.0.0.1:${canaryProxy.port}`,
        weight: 0,
        match: [{ header: 'traffic', exact: 'test' }],
        segment: [],
        sticky: null,
      },
    });
    const session = h2Client(proxy.port);
    const url = `http://127.0.0.1:${proxy.port}/`;
    const [h1, h2, h1Test, h2Test] = await Promise.all([
      get(url),
      h2Request(session, { ':path': '/' }),
      get(url, { traffic: 'test' }),
      h2Request(session, { ':path': '/', traffic: 'test' }),
    ]);
    expect([h1.body, h1.headers['x-sluice-route']]).toEqual(['v1', 'primary']);
    expect([h2.status, h2.body, h2.headers['x-sluice-route']]).toEqual([200, 'v1', 'primary']);
    expect([h1Test.body, h1Test.headers['x-sluice-route']]).toEqual(['v2', 'canary']);
    expect([h2Test.body, h2Test.headers['x-sluice-route']]).toEqual(['v2', 'canary']);
    expect(h2.headers['x-app']).toBe('v1');
  });

  it('streams an HTTP/2 request body of unknown length to an HTTP/1.1 app, chunked', async () => {
    let seen: { te: string | undefined; length: number } | undefined;
    const primary = await app('v1', (req, res) => {
      let length = 0;
      req.on('data', (c: Buffer) => (length += c.length));
      req.on('end', () => {
        seen = { te: req.headers['transfer-encoding'], length };
        res.writeHead(201, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] });
        res.end(String(length));
      });
    });
    const proxy = await proxyFor(primary.port, {});
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    const answer = await h2Request(h2Client(proxy.port), { ':method': 'POST', ':path': '/up' }, body);
    expect(answer.status).toBe(201);
    expect(answer.body).toBe(String(body.length));
    expect(answer.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(seen).toEqual({ te: 'chunked', length: body.length });
  });

  it('translates an HTTP/1.1 client to an app that speaks only HTTP/2', async () => {
    const port = await h2App((stream, headers) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-proto': String(headers[':scheme']) });
      stream.end(`h2 app ${String(headers[':method'])} ${String(headers[':path'])}`);
    });
    const proxy = await proxyFor(port, { appProtocol: 'h2c' });
    const h1 = await get(`http://127.0.0.1:${proxy.port}/a?b=1`);
    expect(h1.status).toBe(200);
    expect(h1.body).toBe('h2 app GET /a?b=1');
    expect(h1.headers['x-sluice-route']).toBe('primary');
    const h2 = await h2Request(h2Client(proxy.port), { ':path': '/c' });
    expect(h2.body).toBe('h2 app GET /c');
  });

  it('answers an HTTP/1.1 client that expects 100-continue once, then forwards its body', async () => {
    const port = await h2App((stream, headers) => {
      expect(headers.expect).toBeUndefined();
      let body = '';
      stream.on('data', (c: Buffer) => (body += c.toString()));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(`got ${body}`);
      });
    });
    const proxy = await proxyFor(port, { appProtocol: 'h2c' });
    let continues = 0;
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request({
        port: proxy.port,
        host: '127.0.0.1',
        method: 'POST',
        headers: { expect: '100-continue', 'content-length': '5' },
      });
      req.on('continue', () => {
        continues++;
        req.end('hello');
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
    });
    expect(answer).toBe('got hello');
    expect(continues).toBe(1);
  });

  it('passes trailers from an HTTP/2 app to both kinds of client', async () => {
    const port = await h2App((stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
      stream.end('body');
    });
    const proxy = await proxyFor(port, { appProtocol: 'h2c' });
    const h2 = await h2Request(h2Client(proxy.port), { ':path': '/' });
    expect(h2.body).toBe('body');
    expect(h2.trailers?.['x-checksum']).toBe('abc');
    // HTTP/1.1 carries trailers after a chunked body.
    const h1 = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) =>
      http
        .get(`http://127.0.0.1:${proxy.port}/`, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ body, trailers: res.trailers }));
        })
        .on('error', reject),
    );
    expect(h1).toEqual({ body: 'body', trailers: { 'x-checksum': 'abc' } });
  });
});

describe('resets pass both ways', () => {
  it('shows the client the reset the app sent, mid-answer', async () => {
    // A reset of the app's mid-answer: destroy(), as close() would end the stream first.
    const port = await h2App((stream) => {
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200 });
      stream.write('partial', () => setTimeout(() => stream.destroy(new Error('app gives up')), 20));
    });
    const proxy = await proxyFor(port, { appProtocol: 'h2c' });
    const stream = h2Client(proxy.port).request({ ':path': '/' }, { endStream: true });
    stream.on('error', () => undefined);
    const body: string[] = [];
    stream.on('data', (c: Buffer) => body.push(c.toString()));
    let ended = false;
    stream.on('end', () => (ended = true));
    await new Promise((resolve) => stream.on('close', resolve));
    expect(body.join('')).toBe('partial');
    expect(ended).toBe(false);
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
  });

  it('resets the app stream when the client cancels', async () => {
    let upstreamCode: number | undefined;
    const port = await h2App((stream) => {
      stream.respond({ ':status': 200 });
      stream.write('first');
      stream.on('error', () => undefined);
      stream.on('close', () => (upstreamCode = stream.rstCode));
    });
    const proxy = await proxyFor(port, { appProtocol: 'h2c' });
    const stream = h2Client(proxy.port).request({ ':path': '/' }, { endStream: true });
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('data', resolve));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await eventually('the app stream to close', () => upstreamCode !== undefined, { timeoutMs: 2_000 });
    expect(upstreamCode).toBe(http2.constants.NGHTTP2_CANCEL);
    const text = await metricsText(proxy);
    expect(sampleValue(text, 'sluice_proxy_requests_total', { code: '499' })).toBe(1);
  });
});

describe('the fallback to the local app', () => {
  it('sends a call the canary refused unprocessed to the local app, body and all', async () => {
    const grpcApp = await startGrpcApp('v1');
    defer(() => grpcApp.close());
    // A canary that refuses every stream, as one does beyond its GOAWAY: REFUSED_STREAM promises the
    // call was not acted on, though its body had already gone out.
    const refusing = await h2App((stream) => {
      stream.on('error', () => undefined);
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    const proxy = await proxyFor(grpcApp.port, { appProtocol: 'grpc' });
    proxy.applyRoute({
      version: 'r1',
      canary: { url: `http://127.0.0.1:${refusing}`, weight: 100, match: [], segment: [], sticky: null },
    });
    const client = echoClient(proxy.port);
    defer(async () => client.close());
    const { reply } = await unary(client, 'a body that went out twice');
    expect(reply).toBe('v1|a body that went out twice');
    const text = await metricsText(proxy);
    expect(sampleValue(text, 'sluice_proxy_canary_fallbacks_total')).toBe(1);
    expect(sampleValue(text, 'sluice_proxy_requests_total', { destination: 'local', grpc_status: '0' })).toBe(
      1,
    );
  });
});

describe('drain', () => {
  it('sends GOAWAY, finishes the streams under way, then closes', async () => {
    const grpcApp = await startGrpcApp('v1');
    defer(() => grpcApp.close());
    const proxy = await startTestProxy({ appPort: grpcApp.port, appProtocol: 'grpc', drainDelayMs: 0 });
    const client = echoClient(proxy.port);
    defer(async () => client.close());
    const session = h2Client(proxy.port);
    await h2Request(session, { ':path': '/' }).catch(() => undefined);
    const goaway = new Promise((resolve) => session.once('goaway', resolve));
    // A slow call under way when the drain starts.
    const slow = new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest<Buffer, Buffer>(
        echoService.unary.path,
        (b) => b,
        (b) => b,
        Buffer.from('sleep:300'),
        (err, reply) => (err ? reject(err) : resolve((reply as Buffer).toString())),
      ),
    );
    await eventually('the call to reach the app', () => grpcApp.calls > 0, { timeoutMs: 2_000 });
    const drained = proxy.drain();
    await goaway;
    expect(await slow).toBe('v1|sleep:300');
    await drained;
    // Closed: a new call finds nothing listening.
    const after = await new Promise<grpc.ServiceError | null>((resolve) =>
      echoClient(proxy.port).makeUnaryRequest<Buffer, Buffer>(
        echoService.unary.path,
        (b) => b,
        (b) => b,
        Buffer.from('x'),
        { deadline: Date.now() + 1_000 },
        (err) => resolve(err),
      ),
    );
    expect(after?.code).toBe(grpc.status.UNAVAILABLE);
  });
});
