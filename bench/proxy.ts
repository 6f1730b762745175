import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { RouteStore, createRouteHandler } from '../src/routes/server.js';
import {
  BODY_100,
  cpuSeconds,
  fixedRateProbe,
  freePort,
  median,
  round,
  rssMiB,
  startChild,
  startNginx,
  startSluiceProxy,
  stopChild,
  waitForPort,
  wrk,
  type ProbeResult,
  type WrkResult,
} from './tools.js';

/**
 * The data path: the direct path to a tiny upstream, nginx doing sluice's split, and the sluice proxy
 * doing it, interleaved round by round. The split is the same for both proxies: header `traffic: test` →
 * canary, else 10% → canary. The upstreams are nginx `return 200` servers, the cheapest app there is, so
 * that the proxies' own cost dominates.
 */

export interface ProxyBenchOptions {
  /**
   * Another build's `bin/sluice.js`, run as a fifth path in the same rounds (BENCH_PROXY_BEFORE), so that
   * a change to the proxy is compared with the build before it under the same load on the machine.
   */
  beforeBin?: string | undefined;
  rounds: number;
  seconds: number;
  connections: number;
  probeRate: number;
  probeSeconds: number;
  log: (line: string) => void;
}

export interface ProxyBenchResult {
  sluiceVsNginx: number;
  sluiceVsDirect: number;
  /** The minimal forwarder on Node's http server and undici (bench/minimal-proxy.ts) over nginx. */
  minimalVsNginx: number;
  sluiceVsMinimal: number;
  p99Ms: number;
  addedP99MsAt500: number;
  rssMiB: number;
  cpuUsPerRequest: { nginx: number; minimal: number; sluice: number; before?: number };
  /** With `beforeBin`: the other build's throughput, added p99 and CPU against this one's. */
  sluiceVsBefore?: number;
  addedP99MsAt500Before?: number;
}

const SETTLE_MS = 1_000;

type Path = 'direct' | 'nginx' | 'minimal' | 'sluice' | 'before';

const APP_SOURCE = `
const http = require('node:http');
const body = ${JSON.stringify(BODY_100)};
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

/** The tiny app: one Node.js process per port, answering 100 bytes. */
async function startNodeApps(ports: number[]): Promise<{ stop(): Promise<void> }> {
  const apps = ports.map((port) => startChild(process.execPath, ['-e', APP_SOURCE, String(port)]));
  await Promise.all(ports.map((port) => waitForPort(port)));
  return { stop: async () => void (await Promise.all(apps.map(stopChild))) };
}

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));
const MINIMAL_PROXY = fileURLToPath(new URL('./minimal-proxy.js', import.meta.url));

/**
 * `upstream: 'node'` puts a tiny Node.js app behind the proxies, like the apps sluice fronts;
 * `upstream: 'nginx'` an nginx `return 200`, the cheapest upstream there is, so that the proxies' own cost
 * dominates and the ratio shows it undiluted.
 */
export async function benchProxy(
  options: ProxyBenchOptions & { upstream: 'node' | 'nginx' },
): Promise<ProxyBenchResult> {
  const { log } = options;
  const [
    primaryPort,
    canaryPort,
    nginxPort,
    sluicePort,
    adminPort,
    routePort,
    minimalPort,
    beforePort,
    beforeAdmin,
  ] = await Promise.all(Array.from({ length: 9 }, freePort));
  const upstreams =
    options.upstream === 'nginx'
      ? await startNginx(
          `
  server { listen 127.0.0.1:${primaryPort}; keepalive_requests 1000000; location / { return 200 '${BODY_100}'; } }
  server { listen 127.0.0.1:${canaryPort}; keepalive_requests 1000000; location / { return 200 '${BODY_100}'; } }`,
          [primaryPort as number, canaryPort as number],
        )
      : await startNodeApps([primaryPort as number, canaryPort as number]);
  const splitter = await startNginx(
    `
  upstream primary { server 127.0.0.1:${primaryPort}; keepalive 64; keepalive_requests 1000000; }
  upstream canary { server 127.0.0.1:${canaryPort}; keepalive 64; keepalive_requests 1000000; }
  split_clients "\${request_id}" $weighted { 10% canary; * primary; }
  map $http_traffic $destination { test canary; default $weighted; }
  server {
    listen 127.0.0.1:${nginxPort};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://$destination;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
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
  const startSluice = (bin: string, port: number, admin: number) =>
    startSluiceProxy({
      bin,
      port,
      adminPort: admin,
      appPort: primaryPort as number,
      routePort: routePort as number,
    });
  const sluice = startSluice(SLUICE_BIN, sluicePort as number, adminPort as number);
  const before =
    options.beforeBin === undefined
      ? undefined
      : startSluice(options.beforeBin, beforePort as number, beforeAdmin as number);
  const minimal = startChild(process.execPath, [MINIMAL_PROXY, String(minimalPort), String(primaryPort)]);
  await Promise.all([
    waitForPort(sluicePort as number),
    waitForPort(minimalPort as number),
    ...(before === undefined ? [] : [waitForPort(beforePort as number)]),
  ]);
  // Wait for the route table, so that sluice splits from the first request as nginx does.
  for (const admin of before === undefined ? [adminPort] : [adminPort, beforeAdmin]) {
    for (;;) {
      const routes = await fetch(`http://127.0.0.1:${admin}/routes`).then(
        (r) => r.json() as Promise<{ canary: unknown }>,
      );
      if (routes.canary !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const urls: Record<Path, string> = {
    direct: `http://127.0.0.1:${primaryPort}/`,
    nginx: `http://127.0.0.1:${nginxPort}/`,
    minimal: `http://127.0.0.1:${minimalPort}/`,
    sluice: `http://127.0.0.1:${sluicePort}/`,
    before: `http://127.0.0.1:${beforePort}/`,
  };
  const paths: Path[] = [
    'direct',
    'nginx',
    'minimal',
    'sluice',
    ...(before === undefined ? [] : ['before' as const]),
  ];
  const load: Record<Path, WrkResult[]> = { direct: [], nginx: [], minimal: [], sluice: [], before: [] };
  const probe: Record<Path, ProbeResult[]> = { direct: [], nginx: [], minimal: [], sluice: [], before: [] };
  // CPU per request is steadier than throughput when other work shares the cores.
  const cpuPerRequest: Record<Exclude<Path, 'direct'>, number[]> = {
    nginx: [],
    minimal: [],
    sluice: [],
    before: [],
  };
  const pids = {
    nginx: splitter.pid,
    minimal: minimal.pid as number,
    sluice: sluice.pid as number,
    before: before?.pid ?? 0,
  };
  let peakRss = 0;
  try {
    log(
      `proxy, ${options.upstream} upstream: ${options.rounds} rounds × (${paths.join(', ')}); ${options.connections} connections for ` +
        `${options.seconds} s, then 1 connection at ${options.probeRate} req/s for ${options.probeSeconds} s. ` +
        `wrk, the proxies and the upstreams share this machine's cores.`,
    );
    for (let round = 1; round <= options.rounds; round++) {
      for (const path of paths) {
        const sample = () => {
          if (path === 'sluice' && sluice.pid !== undefined) peakRss = Math.max(peakRss, rssMiB(sluice.pid));
        };
        const cpuBefore = path === 'direct' ? 0 : cpuSeconds(pids[path]);
        const result = await wrk(urls[path], options.connections, options.seconds, sample);
        load[path].push(result);
        if (path !== 'direct')
          cpuPerRequest[path].push(((cpuSeconds(pids[path]) - cpuBefore) / result.requests) * 1e6);
        // Let the machine settle after the load (the upstream's and the proxy's garbage collection), so
        // that the probe measures the path at its rate rather than the recovery from wrk.
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        const latency = await fixedRateProbe(urls[path], options.probeRate, options.probeSeconds);
        probe[path].push(latency);
        log(
          `  round ${round} ${path.padEnd(6)} ${Math.round(result.requestsPerSecond).toString().padStart(6)} req/s, ` +
            `p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}` +
            (path === 'direct' ? '' : `, ${(cpuPerRequest[path].at(-1) ?? NaN).toFixed(0)} µs CPU/request`) +
            `; at ${options.probeRate}/s p50 ` +
            `${latency.p50Ms.toFixed(3)} ms p99 ${latency.p99Ms.toFixed(3)} ms`,
        );
      }
    }
  } finally {
    await stopChild(sluice);
    if (before !== undefined) await stopChild(before);
    await stopChild(minimal);
    routeServer.close();
    await splitter.stop();
    await upstreams.stop();
  }

  const rps = (path: Path) => median(load[path].map((r) => r.requestsPerSecond));
  const p99At500 = (path: Path) => median(probe[path].map((r) => r.p99Ms));
  const p50At500 = (path: Path) => median(probe[path].map((r) => r.p50Ms));
  const added = (path: Path) =>
    `${path} p50 +${(p50At500(path) - p50At500('direct')).toFixed(3)} ms p99 +${(p99At500(path) - p99At500('direct')).toFixed(3)} ms`;
  log(
    `proxy medians, ${options.upstream} upstream: direct ${Math.round(rps('direct'))} req/s, nginx ${Math.round(rps('nginx'))}, ` +
      `minimal http.Server+undici forwarder ${Math.round(rps('minimal'))} (${(rps('minimal') / rps('nginx')).toFixed(2)} × nginx), ` +
      `sluice ${Math.round(rps('sluice'))} (${(rps('sluice') / rps('nginx')).toFixed(2)} × nginx, ` +
      `${(rps('sluice') / rps('minimal')).toFixed(2)} × the minimal forwarder); added at ${options.probeRate}/s over direct: ` +
      `${added('nginx')}, ${added('minimal')}, ${added('sluice')}; sluice peak RSS under load ${peakRss.toFixed(1)} MiB; ` +
      `CPU per request: nginx ${median(cpuPerRequest.nginx).toFixed(0)} µs, minimal ` +
      `${median(cpuPerRequest.minimal).toFixed(0)} µs, sluice ${median(cpuPerRequest.sluice).toFixed(0)} µs` +
      (before === undefined
        ? ''
        : `; the build before: ${Math.round(rps('before'))} req/s (sluice ` +
          `${(rps('sluice') / rps('before')).toFixed(2)} × before), ${added('before')}, ` +
          `${median(cpuPerRequest.before).toFixed(0)} µs CPU/request`),
  );
  return {
    sluiceVsNginx: round(rps('sluice') / rps('nginx')),
    sluiceVsDirect: round(rps('sluice') / rps('direct')),
    minimalVsNginx: round(rps('minimal') / rps('nginx')),
    sluiceVsMinimal: round(rps('sluice') / rps('minimal')),
    p99Ms: round(median(load.sluice.map((r) => r.p99Ms))),
    addedP99MsAt500: round(p99At500('sluice') - p99At500('direct'), 3),
    rssMiB: round(peakRss, 1),
    cpuUsPerRequest: {
      nginx: round(median(cpuPerRequest.nginx), 0),
      minimal: round(median(cpuPerRequest.minimal), 0),
      sluice: round(median(cpuPerRequest.sluice), 0),
      ...(before !== undefined && { before: round(median(cpuPerRequest.before), 0) }),
    },
    ...(before !== undefined && {
      sluiceVsBefore: round(rps('sluice') / rps('before')),
      addedP99MsAt500Before: round(p99At500('before') - p99At500('direct'), 3),
    }),
  };
}
