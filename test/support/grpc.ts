import * as grpc from '@grpc/grpc-js';
import { noTotals, type LoadGenerator, type LoadTotals } from '../../src/demo/load.js';

/**
 * A real gRPC service for component tests, defined without .proto files: grpc-js's generic client and
 * server with plain Buffer messages. Each reply names the app that sent it (`v1|…`), so a test can tell
 * which side of a split answered.
 */

const identity = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/sluice.test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

export const echoService = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
export type EchoClient = InstanceType<typeof EchoClient>;

export interface GrpcApp {
  name: string;
  port: number;
  server: grpc.Server;
  /** Calls begun, and calls the client (or the proxy for it) cancelled, by method. */
  calls: number;
  cancelled: number;
  /** The metadata of the last call. */
  lastMetadata: grpc.Metadata | undefined;
  close(): Promise<void>;
}

/**
 * The app: Unary answers `name|request`, or fails with INTERNAL for `fail`, or answers after `sleep:<ms>`;
 * ServerStream sends `count` (the request, a number) messages then ends, or `forever` one every 20 ms;
 * ClientStream answers the messages joined; Bidi echoes each. Every call ends with the trailer
 * `x-served-by: name`.
 */
export async function startGrpcApp(name: string, options: { errorRate?: number } = {}): Promise<GrpcApp> {
  const errorRate = options.errorRate ?? 0;
  let unaryCalls = 0;
  // That share of unary calls fails with INTERNAL, spread evenly: the call numbered n fails when it crosses
  // a multiple of the rate.
  const failsNext = (): boolean => {
    const n = unaryCalls++;
    return Math.floor((n + 1) * errorRate) > Math.floor(n * errorRate);
  };
  const server = new grpc.Server();
  const app: GrpcApp = {
    name,
    port: 0,
    server,
    calls: 0,
    cancelled: 0,
    lastMetadata: undefined,
    close: () =>
      new Promise((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
  const trailer = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('x-served-by', name);
    return m;
  };
  const begin = (call: { metadata: grpc.Metadata; on(event: 'cancelled', f: () => void): unknown }): void => {
    app.calls++;
    app.lastMetadata = call.metadata;
    call.on('cancelled', () => app.cancelled++);
  };
  server.addService(echoService, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      begin(call);
      const text = call.request.toString();
      if (text === 'fail' || failsNext())
        return callback({ code: grpc.status.INTERNAL, details: 'boom', metadata: trailer() });
      const sleep = /^sleep:(\d+)$/.exec(text);
      const answer = (): void => callback(null, Buffer.from(`${name}|${text}`), trailer());
      if (sleep === null) return answer();
      const timer = setTimeout(answer, Number(sleep[1]));
      call.on('cancelled', () => clearTimeout(timer));
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      begin(call);
      const text = call.request.toString();
      if (text === 'forever') {
        let i = 0;
        const timer = setInterval(() => call.write(Buffer.from(`${name}|${i++}`)), 20);
        call.on('cancelled', () => clearInterval(timer));
        return;
      }
      for (let i = 0; i < Number(text); i++) call.write(Buffer.from(`${name}|${i}`));
      call.end(trailer());
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      begin(call);
      const parts: string[] = [];
      call.on('data', (chunk: Buffer) => parts.push(chunk.toString()));
      call.on('end', () => callback(null, Buffer.from(`${name}|${parts.join(',')}`), trailer()));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      begin(call);
      call.on('data', (chunk: Buffer) => call.write(Buffer.from(`${name}|${chunk.toString()}`)));
      call.on('end', () => call.end(trailer()));
    },
  });
  app.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
      err === null ? resolve(port) : reject(err),
    ),
  );
  return app;
}

export function echoClient(port: number): EchoClient {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export interface UnaryResult {
  reply: string;
  headers: grpc.Metadata;
  trailers: grpc.Metadata;
}

/** One unary call; rejects with the ServiceError on a non-OK status. */
export function unary(
  client: EchoClient,
  request: string,
  metadata: Record<string, string> = {},
  options: grpc.CallOptions = {},
): Promise<UnaryResult> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let result: { err: grpc.ServiceError | null; reply: Buffer | undefined } | undefined;
    let trailers: grpc.Metadata | undefined;
    // The callback and the status event come in either order; the call is over when both came.
    const settle = (): void => {
      if (result === undefined || trailers === undefined) return;
      if (result.err !== null) reject(result.err);
      else resolve({ reply: (result.reply as Buffer).toString(), headers, trailers });
    };
    const call = client.makeUnaryRequest<Buffer, Buffer>(
      echoService.unary.path,
      identity,
      identity,
      Buffer.from(request),
      meta,
      options,
      (err, reply) => {
        result = { err, reply };
        settle();
      },
    );
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
      settle();
    });
  });
}

/**
 * Steady unary calls at `rate` per second through `port` (a proxy), `testRate` of them with the metadata
 * `traffic: test`, counted as the demo's load generator counts HTTP requests: a reply from `v2` is the
 * canary's, a status other than OK a failure. Bounded in time; stop() waits for the calls in flight.
 */
export function startGrpcLoad(
  port: number,
  options: { rate: number; testRate: number; maxDurationMs: number },
): LoadGenerator {
  const client = echoClient(port);
  const totals = noTotals();
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  let sent = 0;
  let sentTest = 0;
  const send = (test: boolean): void => {
    const call = unary(client, 'hello', test ? { traffic: 'test' } : {}).then(
      (result) => {
        const canary = result.reply.startsWith('v2|');
        totals.requests++;
        if (canary) totals.canaryRequests++;
        if (test) totals.testRequests++;
        if (test && canary) totals.testCanaryRequests++;
      },
      (err: grpc.ServiceError) => {
        const canary = err.metadata?.get('x-served-by')[0] === 'v2';
        totals.requests++;
        totals.failures++;
        if (canary) totals.canaryRequests++;
        if (canary) totals.canaryFailures++;
        if (test) totals.testRequests++;
        if (test && canary) totals.testCanaryRequests++;
        if (test && canary) totals.testCanaryFailures++;
      },
    );
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call));
  };
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    if (elapsed >= options.maxDurationMs) return finish();
    for (; sent < Math.floor((elapsed / 1000) * options.rate); sent++) send(false);
    for (; sentTest < Math.floor((elapsed / 1000) * options.testRate); sentTest++) send(true);
  }, 50);
  let stopping: Promise<LoadTotals> | undefined;
  const stop = (): Promise<LoadTotals> =>
    (stopping ??= (async () => {
      finish();
      clearInterval(timer);
      await Promise.allSettled([...inFlight]);
      client.close();
      return { ...totals };
    })());
  return { totals: () => totals, stop, done: finished.then(() => ({ ...totals })) };
}

export { grpc };
