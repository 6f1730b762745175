import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RouteStore, createRouteHandler } from '../src/routes/server.js';
import {
  cpuSeconds,
  freePort,
  grpcFrame,
  h2load,
  median,
  round,
  rssMiB,
  startChild,
  startNginx,
  startSluiceProxy,
  stopChild,
  waitForPort,
  type WrkResult,
} from './tools.js';

/**
 * gRPC unary calls: the direct path to a tiny gRPC app, nginx doing sluice's split with `grpc_pass`, and
 * the sluice proxy (`--app-protocol grpc`) doing it, interleaved round by round, loaded by h2load. The
 * split is the same for both proxies: metadata `traffic: test` → canary, else 10% → canary.
 *
 * The app is node:http2 answering every call with one 100-byte message and `grpc-status: 0` in the
 * trailers (what a gRPC server writes on the wire, without a gRPC library's own cost, so that the
 * proxies' cost shows). nginx's grpc_pass opens one upstream HTTP/2 connection per call in flight (kept
 * alive after), sluice multiplexes every call to an origin on one connection.
 */

export interface GrpcBenchOptions {
  rounds: number;
  seconds: number;
  /** h2load connections, and calls in flight on each. */
  clients: number;
  streams: number;
  probeRate: number;
  probeSeconds: number;
  /**
   * More sluice proxies run as paths of their own in the same rounds (BENCH_GRPC_PROXIES): another build
   * to compare a change with, or this one with other Node.js options, under the same load on the machine.
   */
  variants?: readonly GrpcVariant[];
  log: (line: string) => void;
}

export interface GrpcVariant {
  name: string;
  /** A build's bin/sluice.js [this build's]. */
  bin?: string;
  /** The proxy's NODE_OPTIONS [the injected container's]. */
  nodeOptions?: string;
}

export interface GrpcBenchResult {
  sluiceVsNginx: number;
  sluiceVsDirect: number;
  /** The minimal node:http2 forwarder (bench/minimal-h2-proxy.ts) over nginx, and sluice over it. */
  minimalVsNginx: number;
  sluiceVsMinimal: number;
  callsPerSecond: { direct: number; nginx: number; minimal: number; sluice: number };
  p99Ms: number;
  addedP99MsAt500: number;
  addedP99MsAt500Nginx: number;
  rssMiB: number;
  /** CPU per call under load (h2load's many calls in flight). */
  cpuUsPerCall: Record<string, number>;
  /** CPU per call in the probe at a fixed rate: a fixed number of calls, one at a time. */
  cpuUsPerCallAtRate: Record<string, number>;
  /** Each variant's throughput over sluice's, and its added p99 at the probe's rate. */
  variants: Record<string, { vsSluice: number; addedP99MsAt500: number }>;
}

/** direct, nginx, minimal, sluice, then the variants by name. */
type Path = string;

/** The issue's targets for gRPC through sluice. */
const TARGET_VS_NGINX = 0.5;
const TARGET_ADDED_P99_MS = 1;

const SETTLE_MS = 1_000;
const METHOD = '/bench.Echo/Unary';

const APP_SOURCE = `
const http2 = require('node:http2');
const message = Buffer.alloc(105, 120);
message.writeUInt8(0, 0);
message.writeUInt32BE(100, 1);
const server = http2.createServer();
server.on('stream', (stream) => {
  stream.on('data', () => {});
  stream.on('end', () => {
    // A client that gave up on the call (h2load's timeout on a machine too busy) has reset it.
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(message);
  });
  stream.on('error', () => {});
});
server.listen(Number(process.argv[1]), '127.0.0.1');
`;

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));
const MINIMAL_PROXY = fileURLToPath(new URL('./minimal-h2-proxy.js', import.meta.url));

/** One call over a session, as a gRPC client sends it; resolves with its grpc-status. */
function call(
  session: http2.ClientHttp2Session,
  body: Buffer,
  metadata: Record<string, string> = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': METHOD,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...metadata,
    });
    let status = 'none';
    stream.on('response', (headers) => {
      if (typeof headers['grpc-status'] === 'string') status = headers['grpc-status'];
    });
    stream.on('trailers', (trailers) => {
      if (typeof trailers['grpc-status'] === 'string') status = trailers['grpc-status'];
    });
    stream.resume();
    stream.on('end', () => resolve(status));
    stream.on('error', reject);
    stream.end(body);
  });
}

export async function benchGrpc(options: GrpcBenchOptions): Promise<GrpcBenchResult> {
  const { log } = options;
  const ports = await Promise.all(Array.from({ length: 9 }, freePort));
  const [primaryPort, canaryPort, nginxPort, sluicePort, adminPort, routePort, minimalPort] =
    ports as number[];
  const variants = options.variants ?? [];
  const variantPorts = await Promise.all(variants.map(async () => [await freePort(), await freePort()]));
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-grpc-'));
  const body = grpcFrame(Buffer.alloc(64, 97));
  const dataFile = join(dir, 'call.bin');
  writeFileSync(dataFile, body);

  const apps = [primaryPort, canaryPort].map((port) =>
    startChild(process.execPath, ['-e', APP_SOURCE, String(port)]),
  );
  await Promise.all([primaryPort, canaryPort].map((port) => waitForPort(port as number)));
  const splitter = await startNginx(
    `
  upstream primary { server 127.0.0.1:${primaryPort}; keepalive 64; keepalive_requests 1000000; }
  upstream canary { server 127.0.0.1:${canaryPort}; keepalive 64; keepalive_requests 1000000; }
  split_clients "\${request_id}" $weighted { 10% canary; * primary; }
  map $http_traffic $destination { test canary; default $weighted; }
  server {
    listen 127.0.0.1:${nginxPort} http2;
    http2_max_concurrent_streams 1024;
    keepalive_requests 10000000;
    location / {
      grpc_pass grpc://$destination;
      grpc_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }`,
    [nginxPort as number],
  );

  const store = new RouteStore();
  store.set('bench', 'app', {
    url: `http://127.0.0.1:${canaryPort}`,
    weight: 10,
    match: [{ header: 'traffic', exact: 'test' }],
  });
  const handle = createRouteHandler(store);
  const routeServer = http.createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => routeServer.listen(routePort, '127.0.0.1', resolve));
  const startSluice = (bin: string, port: number, admin: number, nodeOptions?: string) =>
    startSluiceProxy({
      bin,
      port,
      adminPort: admin,
      appPort: primaryPort as number,
      routePort: routePort as number,
      protocol: 'grpc',
      nodeOptions,
    });
  const sluice = startSluice(SLUICE_BIN, sluicePort as number, adminPort as number);
  const others = variants.map((variant, i) => {
    const [port, admin] = variantPorts[i] as number[];
    const child = startSluice(
      variant.bin ?? SLUICE_BIN,
      port as number,
      admin as number,
      variant.nodeOptions,
    );
    return { name: variant.name, port: port as number, admin: admin as number, child };
  });
  const minimal = startChild(process.execPath, [MINIMAL_PROXY, String(minimalPort), String(primaryPort)]);
  await Promise.all(
    [sluicePort, minimalPort, ...others.map((o) => o.port)].map((port) => waitForPort(port as number)),
  );
  for (const admin of [adminPort, ...others.map((o) => o.admin)]) {
    for (;;) {
      const routes = await fetch(`http://127.0.0.1:${admin}/routes`).then(
        (r) => r.json() as Promise<{ canary: unknown }>,
      );
      if (routes.canary !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const urls: Record<Path, string> = {
    direct: `http://127.0.0.1:${primaryPort}${METHOD}`,
    nginx: `http://127.0.0.1:${nginxPort}${METHOD}`,
    minimal: `http://127.0.0.1:${minimalPort}${METHOD}`,
    sluice: `http://127.0.0.1:${sluicePort}${METHOD}`,
  };
  const pids: Record<Path, number> = {
    nginx: splitter.pid,
    minimal: minimal.pid as number,
    sluice: sluice.pid as number,
  };
  for (const other of others) {
    if (other.name in urls) throw new Error(`BENCH_GRPC_PROXIES: the name ${other.name} is taken`);
    urls[other.name] = `http://127.0.0.1:${other.port}${METHOD}`;
    pids[other.name] = other.child.pid as number;
  }
  const paths: readonly Path[] = Object.keys(urls);
  const proxied = paths.filter((path) => path !== 'direct');
  const perPath = <T>(): Record<Path, T[]> => Object.fromEntries(paths.map((path) => [path, []]));
  const load = perPath<WrkResult>();
  const probe = perPath<WrkResult>();
  const cpuPerCall = perPath<number>();
  const cpuPerCallAtRate = perPath<number>();
  const headers = { 'content-type': 'application/grpc', te: 'trailers' };
  let peakRss = 0;
  const cpuUs = (path: Path, since: number, calls: number): number =>
    path === 'direct' ? NaN : ((cpuSeconds(pids[path] as number) - since) / calls) * 1e6;
  try {
    // Each path answers a real call, and `traffic: test` reaches the canary through both proxies.
    for (const path of paths) {
      const session = http2.connect(new URL(urls[path] as string).origin);
      const statuses = [await call(session, body), await call(session, body, { traffic: 'test' })];
      session.close();
      if (statuses.some((s) => s !== '0'))
        throw new Error(`${path}: calls ended with grpc-status ${statuses.join(', ')}`);
    }
    log(
      `grpc unary: ${options.rounds} rounds × (direct, nginx grpc_pass, minimal node:http2 forwarder, sluice` +
        `${others.map((o) => `, ${o.name}`).join('')}); h2load ${options.clients} connections × ` +
        `${options.streams} calls in flight for ${options.seconds} s, then 1 connection at ${options.probeRate} calls/s for ` +
        `${options.probeSeconds} s. h2load, the proxies and the apps share this machine's cores.`,
    );
    for (let round = 1; round <= options.rounds; round++) {
      for (const path of paths) {
        const sample = () => {
          if (path === 'sluice') peakRss = Math.max(peakRss, rssMiB(pids.sluice as number));
        };
        const cpuBefore = path === 'direct' ? 0 : cpuSeconds(pids[path] as number);
        const result = await h2load(urls[path] as string, {
          clients: options.clients,
          streams: options.streams,
          seconds: options.seconds,
          data: dataFile,
          headers,
          onTick: sample,
        });
        load[path]?.push(result);
        cpuPerCall[path]?.push(cpuUs(path, cpuBefore, result.requests));
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        const cpuBeforeProbe = path === 'direct' ? 0 : cpuSeconds(pids[path] as number);
        const latency = await h2load(urls[path] as string, {
          clients: 1,
          streams: 1,
          seconds: options.probeSeconds,
          rps: options.probeRate,
          data: dataFile,
          headers,
        });
        probe[path]?.push(latency);
        cpuPerCallAtRate[path]?.push(cpuUs(path, cpuBeforeProbe, latency.requests));
        log(
          `  round ${round} ${path.padEnd(7)} ${Math.round(result.requestsPerSecond).toString().padStart(6)} calls/s, ` +
            `p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}` +
            (path === 'direct' ? '' : `, ${(cpuPerCall[path]?.at(-1) ?? NaN).toFixed(0)} µs CPU/call`) +
            `; at ${options.probeRate}/s (${Math.round(latency.requestsPerSecond)} done/s) p50 ` +
            `${latency.p50Ms.toFixed(3)} ms p99 ${latency.p99Ms.toFixed(3)} ms` +
            (path === 'direct' ? '' : `, ${(cpuPerCallAtRate[path]?.at(-1) ?? NaN).toFixed(0)} µs CPU/call`),
        );
      }
    }
  } finally {
    await stopChild(sluice);
    for (const other of others) await stopChild(other.child);
    await stopChild(minimal);
    routeServer.close();
    await splitter.stop();
    await Promise.all(apps.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  }

  const rps = (path: Path) => median((load[path] ?? []).map((r) => r.requestsPerSecond));
  const p99At = (path: Path) => median((probe[path] ?? []).map((r) => r.p99Ms));
  const p50At = (path: Path) => median((probe[path] ?? []).map((r) => r.p50Ms));
  const added = (path: Path) =>
    `${path} p50 +${(p50At(path) - p50At('direct')).toFixed(3)} ms p99 +${(p99At(path) - p99At('direct')).toFixed(3)} ms`;
  const cpu = (samples: Record<Path, number[]>): Record<string, number> =>
    Object.fromEntries(proxied.map((path) => [path, round(median(samples[path] ?? []), 0)]));
  const vsNginx = rps('sluice') / rps('nginx');
  const addedP99 = p99At('sluice') - p99At('direct');
  log(
    `grpc medians: direct ${Math.round(rps('direct'))} calls/s, nginx ${Math.round(rps('nginx'))}, sluice ` +
      `${Math.round(rps('sluice'))} (${vsNginx.toFixed(2)} × nginx), minimal node:http2 ` +
      `forwarder ${Math.round(rps('minimal'))} (${(rps('minimal') / rps('nginx')).toFixed(2)} × nginx)` +
      others
        .map(
          (o) =>
            `, ${o.name} ${Math.round(rps(o.name))} (${(rps(o.name) / rps('sluice')).toFixed(2)} × sluice)`,
        )
        .join('') +
      `; added at ${options.probeRate}/s over direct: ${proxied.map(added).join(', ')}; sluice peak ` +
      `RSS under load ${peakRss.toFixed(1)} MiB; CPU per call under load: ` +
      `${proxied.map((path) => `${path} ${median(cpuPerCall[path] ?? []).toFixed(0)} µs`).join(', ')}; ` +
      `at ${options.probeRate}/s: ${proxied.map((path) => `${path} ${median(cpuPerCallAtRate[path] ?? []).toFixed(0)} µs`).join(', ')}`,
  );
  const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
  log(
    `grpc targets: throughput ≥ ${TARGET_VS_NGINX} × nginx: ${vsNginx.toFixed(2)}, ${verdict(vsNginx >= TARGET_VS_NGINX)}; ` +
      `added p99 at ${options.probeRate}/s ≤ ${TARGET_ADDED_P99_MS} ms: +${addedP99.toFixed(3)} ms, ` +
      `${verdict(addedP99 <= TARGET_ADDED_P99_MS)} (the direct path's own p99 ${p99At('direct').toFixed(3)} ms; ` +
      `on a busy machine the p99s are queueing, not the proxy)`,
  );
  return {
    sluiceVsNginx: round(vsNginx),
    sluiceVsDirect: round(rps('sluice') / rps('direct')),
    minimalVsNginx: round(rps('minimal') / rps('nginx')),
    sluiceVsMinimal: round(rps('sluice') / rps('minimal')),
    callsPerSecond: {
      direct: Math.round(rps('direct')),
      nginx: Math.round(rps('nginx')),
      minimal: Math.round(rps('minimal')),
      sluice: Math.round(rps('sluice')),
    },
    p99Ms: round(median((load.sluice ?? []).map((r) => r.p99Ms))),
    addedP99MsAt500: round(addedP99, 3),
    addedP99MsAt500Nginx: round(p99At('nginx') - p99At('direct'), 3),
    rssMiB: round(peakRss, 1),
    cpuUsPerCall: cpu(cpuPerCall),
    cpuUsPerCallAtRate: cpu(cpuPerCallAtRate),
    variants: Object.fromEntries(
      others.map((o) => [
        o.name,
        {
          vsSluice: round(rps(o.name) / rps('sluice')),
          addedP99MsAt500: round(p99At(o.name) - p99At('direct'), 3),
        },
      ]),
    ),
  };
}
