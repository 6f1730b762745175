import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../proxy/proxy.js';
import type { RouteCanaryInput } from '../../src/routes/table.js';
import {
  echoClient,
  echoService,
  grpc,
  startGrpcApp,
  unary,
  type EchoClient,
  type GrpcApp,
} from '../support/grpc.js';
import {
  metricsText,
  sampleValue,
  startRouteServer,
  startTestProxy,
  type RouteServer,
} from '../support/servers.js';
import { eventually } from '../support/eventually.js';

// A gRPC app behind a primary proxy fed by a real route server, and a canary app behind a canary-role
// proxy: both proxies told the app speaks gRPC, as the webhook tells them.
let primaryApp: GrpcApp;
let canaryApp: GrpcApp;
let canaryProxy: RunningProxy;
let proxy: RunningProxy;
let routes: RouteServer;
let client: EchoClient;

beforeAll(async () => {
  primaryApp = await startGrpcApp('v1');
  canaryApp = await startGrpcApp('v2');
  routes = await startRouteServer();
  canaryProxy = await startTestProxy({
    appPort: canaryApp.port,
    appProtocol: 'grpc',
    role: 'canary',
    revision: 'v2',
  });
  proxy = await startTestProxy({
    appPort: primaryApp.port,
    appProtocol: 'grpc',
    controlUrl: routes.url,
    revision: 'v1',
  });
  client = echoClient(proxy.port);
});

afterAll(async () => {
  client.close();
  await proxy.drain();
  await canaryProxy.drain();
  await routes.close();
  await primaryApp.close();
  await canaryApp.close();
});

async function publish(canary: Partial<RouteCanaryInput> | null): Promise<void> {
  const table = routes.store.set(
    'shop',
    'podinfo',
    canary === null ? null : { url: `http://127.0.0.1:${canaryProxy.port}`, weight: 0, ...canary },
  );
  await eventually(`route ${table.version}`, () => proxy.route().version === table.version, {
    timeoutMs: 5_000,
  });
}

const identity = (b: Buffer): Buffer => b;

describe('gRPC through the proxy', () => {
  it('passes a unary call with its headers and trailers, and says who answered', async () => {
    await publish(null);
    const { reply, headers, trailers } = await unary(client, 'hello', { 'x-request-id': 'r1' });
    expect(reply).toBe('v1|hello');
    expect(headers.get('x-sluice-route')).toEqual(['primary']);
    expect(trailers.get('x-served-by')).toEqual(['v1']);
    expect(primaryApp.lastMetadata?.get('x-request-id')).toEqual(['r1']);
    expect(primaryApp.lastMetadata?.get('x-forwarded-for')).toEqual(['127.0.0.1']);
  });

  it('passes messages larger than the HTTP/2 flow-control windows, both ways', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const { reply } = await unary(client, big);
    expect(reply.length).toBe(big.length + 3);
    expect(reply.startsWith('v1|xxx')).toBe(true);
  });

  it('passes a server-streaming call', async () => {
    const call = client.makeServerStreamRequest<Buffer, Buffer>(
      echoService.serverStream.path,
      identity,
      identity,
      Buffer.from('5'),
    );
    const got: string[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('data', (m: Buffer) => got.push(m.toString()));
      call.on('status', resolve);
    });
    expect(got).toEqual(['v1|0', 'v1|1', 'v1|2', 'v1|3', 'v1|4']);
    expect(status.code).toBe(grpc.status.OK);
    expect(status.metadata.get('x-served-by')).toEqual(['v1']);
  });

  it('passes a client-streaming call', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const call = client.makeClientStreamRequest<Buffer, Buffer>(
        echoService.clientStream.path,
        identity,
        identity,
        (err, value) => (err ? reject(err) : resolve((value as Buffer).toString())),
      );
      for (const part of ['a', 'b', 'c']) call.write(Buffer.from(part));
      call.end();
    });
    expect(reply).toBe('v1|a,b,c');
  });

  it('passes a bidirectional call, message by message', async () => {
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(echoService.bidi.path, identity, identity);
    const next = (): Promise<string> =>
      new Promise((resolve) => call.once('data', (m: Buffer) => resolve(m.toString())));
    // Each answer comes before the next message is sent: nothing waits for the end of the request.
    for (const word of ['one', 'two', 'three']) {
      const answer = next();
      call.write(Buffer.from(word));
      expect(await answer).toBe(`v1|${word}`);
    }
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
  });

  it('passes a non-zero grpc-status through and counts the call as an error', async () => {
    const before = await metricsText(proxy);
    const err = (await unary(client, 'fail').catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(err.details).toBe('boom');
    expect(err.metadata.get('x-served-by')).toEqual(['v1']);
    await unary(client, 'ok');
    const after = await metricsText(proxy);
    const delta = (labels: Record<string, string>): number =>
      sampleValue(after, 'sluice_proxy_requests_total', labels) -
      sampleValue(before, 'sluice_proxy_requests_total', labels);
    expect(delta({ destination: 'local', code: '200', method: 'POST', grpc_status: '13' })).toBe(1);
    expect(delta({ destination: 'local', code: '200', method: 'POST', grpc_status: '0' })).toBe(1);
  });

  it('keeps the deadline: the client gets DEADLINE_EXCEEDED, the app sees the call cancelled', async () => {
    const before = await metricsText(proxy);
    const cancelled = primaryApp.cancelled;
    const err = (await unary(client, 'sleep:5000', {}, { deadline: Date.now() + 1_000 }).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await eventually('the app to see the cancel', () => primaryApp.cancelled > cancelled, {
      timeoutMs: 2_000,
    });
    const after = await metricsText(proxy);
    expect(
      sampleValue(after, 'sluice_proxy_requests_total', { grpc_status: '4' }) -
        sampleValue(before, 'sluice_proxy_requests_total', { grpc_status: '4' }),
    ).toBe(1);
  });

  it('passes a client cancel upstream as a stream reset', async () => {
    const cancelled = primaryApp.cancelled;
    const call = client.makeServerStreamRequest<Buffer, Buffer>(
      echoService.serverStream.path,
      identity,
      identity,
      Buffer.from('forever'),
    );
    await new Promise((resolve) => call.once('data', resolve));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    call.cancel();
    expect((await status).code).toBe(grpc.status.CANCELLED);
    await eventually('the app to see the cancel', () => primaryApp.cancelled > cancelled, {
      timeoutMs: 2_000,
    });
  });

  it('sends `traffic: test` calls to the canary at weight 0, and says so', async () => {
    await publish({ weight: 0, match: [{ header: 'traffic', exact: 'test' }] });
    const test = await unary(client, 'hi', { traffic: 'test' });
    expect(test.reply).toBe('v2|hi');
    expect(test.headers.get('x-sluice-route')).toEqual(['canary']);
    // The canary's proxy saw the hop header and kept the call local; the app never sees it.
    expect(canaryApp.lastMetadata?.get('x-sluice-hop')).toEqual([]);
    const plain = await unary(client, 'hi', { traffic: 'prod' });
    expect(plain.reply).toBe('v1|hi');
    expect(plain.headers.get('x-sluice-route')).toEqual(['primary']);
  });

  it('splits unary calls by weight', async () => {
    await publish({ weight: 30 });
    const n = 1_000;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => unary(client, String(i))));
    const canary = replies.filter((r) => r.reply.startsWith('v2|')).length;
    const bound = 5 * Math.sqrt(n * 0.3 * 0.7);
    expect(Math.abs(canary - n * 0.3)).toBeLessThanOrEqual(bound);
  });

  it('keeps sticky callers on their side', async () => {
    await publish({ weight: 50, sticky: 'x-user' });
    for (let u = 0; u < 50; u++) {
      const sides = new Set<string>();
      for (let i = 0; i < 4; i++)
        sides.add((await unary(client, 'x', { 'x-user': `user-${u}` })).reply.slice(0, 2));
      expect(sides.size).toBe(1);
    }
  });

  it('falls back to the local app when the canary cannot be reached, and counts it', async () => {
    const before = await metricsText(proxy);
    const table = routes.store.set('shop', 'podinfo', { url: 'http://127.0.0.1:1', weight: 100 });
    await eventually('route', () => proxy.route().version === table.version, { timeoutMs: 5_000 });
    const { reply } = await unary(client, 'x');
    expect(reply).toBe('v1|x');
    const after = await metricsText(proxy);
    expect(
      sampleValue(after, 'sluice_proxy_canary_fallbacks_total') -
        sampleValue(before, 'sluice_proxy_canary_fallbacks_total'),
    ).toBe(1);
    expect(
      sampleValue(after, 'sluice_proxy_requests_total', { destination: 'canary', grpc_status: '14' }) -
        sampleValue(before, 'sluice_proxy_requests_total', { destination: 'canary', grpc_status: '14' }),
    ).toBe(1);
  });
});
