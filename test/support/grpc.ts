import * as grpc from '@grpc/grpc-js';

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
export async function startGrpcApp(name: string): Promise<GrpcApp> {
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
      if (text === 'fail')
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

export { grpc };
