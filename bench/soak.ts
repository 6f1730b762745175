import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { RouteStore, createRouteHandler } from '../src/routes/server.js';
import { proxyNodeOptions } from '../src/injection/shape.js';
import { freePort, startChild, stopChild, waitForPort } from './tools.js';

/**
 * `npm run soak`: requests through real `sluice proxy` processes, in front of real app processes, while the
 * route, the canary, the proxies and the route server misbehave (docs/reliability.md says what and why).
 * Bounded: SOAK_REQUESTS requests [100000], and at least one round of every fault; it gives up after
 * SOAK_SECONDS [900]. Loopback only. The last line is one JSON object; the exit code is 1 when a request
 * was lost.
 */

const TARGET = Number(process.env['SOAK_REQUESTS'] ?? 100_000);
const MAX_SECONDS = Number(process.env['SOAK_SECONDS'] ?? 900);
const PRIMARIES = 3;
/** Requests in flight at once, over all proxies. */
const CONCURRENCY = 24;
const NAMESPACE = 'soak';
const DEPLOYMENT = 'app';
/** Short, so that the route server's outage outlasts it within seconds. */
const ROUTE_TTL_MS = 3_000;
/** The proxy's default: how long it keeps serving after SIGTERM while endpoints are withdrawn. */
const DRAIN_DELAY_MS = 5_000;
/** How long after SIGTERM the load generator still chooses a terminating proxy (endpoints catching up). */
const ENDPOINTS_LAG_MS = 1_000;
const CANARY_DOWN_MS = 1_500;
const WEIGHTS = [10, 25, 50, 100, 0, 5, 75];

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

/** Slow requests kept in flight on every proxy, longer than the drain delay: they must outlive a drain. */
const SLOW_PER_PROXY = 2;
const SLOW_MS = DRAIN_DELAY_MS + 1_000;

/**
 * The app: answers with its name in a header and the body, after reading the request body; `/slow/MS`
 * answers after MS milliseconds.
 */
const APP_SOURCE = `
const http = require('node:http');
const name = process.argv[2];
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const delay = Number(/^\\/slow\\/(\\d+)$/.exec(req.url)?.[1] ?? 0);
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name });
      res.end(name + '\\n');
    }, delay);
  });
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

async function startApp(name: string, port: number): Promise<ChildProcess> {
  const child = startChild(process.execPath, ['-e', APP_SOURCE, String(port), name]);
  await waitForPort(port);
  return child;
}

interface ProxyProcess {
  name: string;
  appPort: number;
  child: ChildProcess;
  port: number;
  adminPort: number;
  /** Log lines by message, for the summary. */
  logs: Map<string, number>;
  pool: Pool;
  exited: Promise<number | null>;
}

/** Proxies still running when this process exits (a fault that failed, an error) go with it. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function startProxy(name: string, appPort: number, controlUrl: string): Promise<ProxyProcess> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [SLUICE_BIN, 'proxy',
      '--app-port', String(appPort),
      '--listen-host', '127.0.0.1',
      '--listen-port', String(port),
      '--admin-port', String(adminPort),
      '--control-url', controlUrl,
      '--namespace', NAMESPACE,
      '--deployment', DEPLOYMENT,
      '--route-ttl', `${ROUTE_TTL_MS}ms`,
      '--drain-delay', `${DRAIN_DELAY_MS}ms`,
    ], // prettier-ignore
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SLUICE_LOG_LEVEL: 'info', NODE_OPTIONS: proxyNodeOptions('http') },
    },
  );
  const logs = new Map<string, number>();
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const msg = /"msg":"([^"]+)"/.exec(line)?.[1] ?? 'unparsed';
      logs.set(msg, (logs.get(msg) ?? 0) + 1);
    }
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  await waitForPort(port);
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 8, keepAliveTimeout: 30_000 });
  return { name, appPort, child, port, adminPort, logs, pool, exited };
}

/** What the proxies' own counters said: canary requests they sent to the local app instead. */
async function fallbacks(proxy: ProxyProcess): Promise<number> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
    const line = /^sluice_proxy_canary_fallbacks_total\{[^}]*\} (\d+)/m.exec(text);
    return Number(line?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function routeVersion(proxy: ProxyProcess): Promise<string | undefined> {
  try {
    return ((await (await fetch(`http://127.0.0.1:${proxy.adminPort}/routes`)).json()) as { version: string })
      .version;
  } catch {
    return undefined;
  }
}

/** How each request ended, from the load generator's side. */
interface Tally {
  requests: number;
  byApp: Map<string, number>;
  /** No answer at all: the connection failed or closed under the request. */
  noAnswer: number;
  /** 502/504 made by the proxy itself (its JSON body, no x-app header). */
  proxyErrors: number;
  /** Of those, a POST whose body had gone to the canary when the canary died: never sent again, by design. */
  canaryPostsFailedByDesign: number;
  unexpected: number;
  examples: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<number> {
  const log = (line: string) => console.log(line);
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;

  // The controller's route server: its RouteStore and long-poll handler, as `sluice controller` mounts them.
  const store = new RouteStore();
  const handleRoutes = createRouteHandler(store);
  const routePort = await freePort();
  const controlUrl = `http://127.0.0.1:${routePort}`;
  let routeServer = await startRouteServer(routePort, handleRoutes);

  const canaryPort = await freePort();
  const canaryUrl = `http://127.0.0.1:${canaryPort}`;
  let canary = await startApp('canary', canaryPort);
  const appPorts = await Promise.all(Array.from({ length: PRIMARIES }, freePort));
  const apps = await Promise.all(appPorts.map((port, i) => startApp(`primary-${i}`, port)));
  let weight = WEIGHTS[0] as number;
  store.set(NAMESPACE, DEPLOYMENT, { url: canaryUrl, weight, match: [{ header: 'traffic', exact: 'test' }] });
  let proxyCount = 0;
  const proxies: ProxyProcess[] = await Promise.all(
    appPorts.map((port) => startProxy(`proxy-${proxyCount++}`, port, controlUrl)),
  );
  /** The proxies the load generator chooses from: the Service's endpoints. */
  const endpoints: ProxyProcess[] = [...proxies];
  const retired: ProxyProcess[] = [];
  let retiredFallbacks = 0;

  log(
    `soak: ${TARGET} requests or more, ${CONCURRENCY} at a time, through ${PRIMARIES} sluice proxies ` +
      `(each in front of its own app process) and a canary app; route TTL ${ROUTE_TTL_MS} ms, drain delay ` +
      `${DRAIN_DELAY_MS} ms, endpoints lag ${ENDPOINTS_LAG_MS} ms; gives up after ${MAX_SECONDS} s`,
  );

  const tally: Tally = {
    requests: 0,
    byApp: new Map(),
    noAnswer: 0,
    proxyErrors: 0,
    canaryPostsFailedByDesign: 0,
    unexpected: 0,
    examples: [],
  };
  const example = (text: string) => {
    if (tally.examples.length < 20) tally.examples.push(`${elapsed().toFixed(1)} s ${text}`);
  };

  const faults = { canaryKills: 0, proxyReplacements: 0, routeOutages: 0 };
  const faultLog: string[] = [];
  let cyclesDone = 0;
  let stopping = false;
  /** A fault that could not be carried out (a process that did not start) ends the run as a failure. */
  let faultError: unknown;
  const finished = () =>
    (tally.requests >= TARGET && cyclesDone >= 1) || elapsed() > MAX_SECONDS || faultError !== undefined;

  // The route's weight moves every second, as a release's steps would, only faster.
  let step = 0;
  const weightTimer = setInterval(() => {
    weight = WEIGHTS[++step % WEIGHTS.length] as number;
    store.set(NAMESPACE, DEPLOYMENT, {
      url: canaryUrl,
      weight,
      match: [{ header: 'traffic', exact: 'test' }],
    });
  }, 1_000);

  const killCanary = async () => {
    canary.kill('SIGKILL');
    await new Promise((resolve) => canary.once('exit', resolve));
    faults.canaryKills++;
    await sleep(CANARY_DOWN_MS);
    canary = await startApp('canary', canaryPort);
    faultLog.push(`${elapsed().toFixed(1)} s canary killed (SIGKILL), back after ${CANARY_DOWN_MS} ms`);
  };

  const replaceProxy = async () => {
    const old = endpoints[faults.proxyReplacements % endpoints.length] as ProxyProcess;
    const fallbacksBefore = await fallbacks(old);
    const at = elapsed();
    old.child.kill('SIGTERM');
    // The replacement starts at once, as a ReplicaSet's would; endpoints drop the old one a little later.
    const next = await startProxy(`proxy-${proxyCount++}`, old.appPort, controlUrl);
    proxies.push(next);
    endpoints.push(next);
    await sleep(ENDPOINTS_LAG_MS);
    endpoints.splice(endpoints.indexOf(old), 1);
    const code = await old.exited;
    await old.pool.close();
    retired.push(old);
    retiredFallbacks += fallbacksBefore;
    faults.proxyReplacements++;
    faultLog.push(
      `${at.toFixed(1)} s ${old.name} sent SIGTERM, exited ${code} after ${(elapsed() - at).toFixed(1)} s; ` +
        `${next.name} took its place`,
    );
    if (code !== 0) example(`${old.name} exited ${code} after SIGTERM`);
  };

  const routeOutage = async () => {
    const at = elapsed();
    await routeServer.close();
    const away = ROUTE_TTL_MS + 2_000;
    await sleep(away);
    routeServer = await startRouteServer(routePort, handleRoutes);
    faults.routeOutages++;
    // Every proxy fell back to all-local; wait until each has the controller's table again.
    const back = elapsed();
    for (;;) {
      const want = store.get(NAMESPACE, DEPLOYMENT).version;
      const versions = await Promise.all(endpoints.map(routeVersion));
      if (versions.every((v) => v === want) || elapsed() - back > 30) break;
      await sleep(100);
    }
    faultLog.push(
      `${at.toFixed(1)} s route server down for ${away} ms; every proxy had the current table again ` +
        `${(elapsed() - back).toFixed(1)} s after it came back`,
    );
  };

  const faultLoop = (async () => {
    while (!stopping) {
      for (const fault of [killCanary, replaceProxy, routeOutage]) {
        if (stopping) return;
        await fault();
        await sleep(1_000);
      }
      cyclesDone++;
    }
  })().catch((err: unknown) => {
    faultError = err;
  });

  let next = 0;
  const send = async (proxy: ProxyProcess, slow = false): Promise<void> => {
    const n = next++;
    const post = !slow && n % 10 === 0;
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (n % 50 === 0) headers['traffic'] = 'test';
    const what = `${proxy.name} ${post ? 'POST' : 'GET'}${slow ? ' slow' : ''}`;
    tally.requests++;
    try {
      const res = await proxy.pool.request({
        path: slow ? `/slow/${SLOW_MS}` : `/r/${n}`,
        method: post ? 'POST' : 'GET',
        headers,
        body: post ? 'a small body\n' : null,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      const body = await res.body.text();
      const app = res.headers['x-app'];
      if (res.statusCode === 200 && typeof app === 'string') {
        tally.byApp.set(app, (tally.byApp.get(app) ?? 0) + 1);
        return;
      }
      const made = madeByProxy(res.statusCode, app, body);
      if (made !== undefined) {
        tally.proxyErrors++;
        const route = res.headers['x-sluice-route'];
        // DESIGN.md: only a request whose body was not consumed is sent again, on the local app.
        if (post && route === 'canary' && (made === 'Reset' || made === 'ClosedEarly')) {
          tally.canaryPostsFailedByDesign++;
          return;
        }
        example(`${what} → ${res.statusCode} ${body}`);
        return;
      }
      tally.unexpected++;
      example(`${what} → ${res.statusCode} ${body.slice(0, 200)}`);
    } catch (err) {
      tally.noAnswer++;
      const e = err as Error & { code?: string };
      example(`${what} no answer: ${e.code ?? e.name} ${e.message}`);
    }
  };

  const workers = Array.from({ length: CONCURRENCY }, async () => {
    while (!finished()) await send(endpoints[next % endpoints.length] as ProxyProcess);
  });
  // Each proxy in the endpoints always has a few slow requests under way, so that a drain always has some.
  const slowLane = Array.from({ length: SLOW_PER_PROXY * PRIMARIES }, async (_, i) => {
    while (!finished()) {
      await send(endpoints[i % endpoints.length] as ProxyProcess, true);
    }
  });
  let lastReport = 0;
  const progress = setInterval(() => {
    log(
      `  ${elapsed().toFixed(0)} s: ${tally.requests} requests, weight ${weight}, ` +
        `${(tally.requests - lastReport).toLocaleString('en')} in the last 10 s`,
    );
    lastReport = tally.requests;
  }, 10_000);
  await Promise.all([...workers, ...slowLane]);
  stopping = true;
  clearInterval(progress);
  await faultLoop;
  clearInterval(weightTimer);
  if (faultError !== undefined)
    throw new Error('soak: a fault could not be carried out', { cause: faultError });
  const seconds = elapsed();

  const liveFallbacks = (
    await Promise.all(proxies.filter((p) => !retired.includes(p)).map(fallbacks))
  ).reduce((a, b) => a + b, 0);
  const logs = new Map<string, number>();
  for (const proxy of proxies)
    for (const [msg, n] of proxy.logs) if (msg !== 'routeApplied') logs.set(msg, (logs.get(msg) ?? 0) + n);
  for (const proxy of proxies.filter((p) => !retired.includes(p))) {
    await stopChild(proxy.child);
    await proxy.pool.close();
  }
  await stopChild(canary);
  await Promise.all(apps.map(stopChild));
  await routeServer.close();

  const lost = tally.noAnswer + tally.unexpected + (tally.proxyErrors - tally.canaryPostsFailedByDesign);
  const faultCount = faults.canaryKills + faults.proxyReplacements + faults.routeOutages;
  log('faults:');
  for (const line of faultLog) log(`  ${line}`);
  log(
    `soak: ${tally.requests} requests in ${seconds.toFixed(1)} s (${Math.round(tally.requests / seconds)}/s); answered by ` +
      [...tally.byApp].map(([app, n]) => `${app} ${n}`).join(', '),
  );
  log(
    `  faults ${faultCount}: canary killed ${faults.canaryKills}×, primary proxy replaced ${faults.proxyReplacements}×, ` +
      `route server away ${faults.routeOutages}×; weight changed every second`,
  );
  log(
    `  canary requests the proxies sent to the local app instead: ${retiredFallbacks + liveFallbacks} or more ` +
      `(sluice_proxy_canary_fallbacks_total)`,
  );
  log(
    `  lost ${lost}: no answer ${tally.noAnswer}, made-up 502/504 ${tally.proxyErrors - tally.canaryPostsFailedByDesign}, ` +
      `other ${tally.unexpected}; not lost, by design: ${tally.canaryPostsFailedByDesign} POSTs that had reached ` +
      `the canary when it was killed (a consumed body is never sent again)`,
  );
  log(`  proxy log lines: ${[...logs].map(([msg, n]) => `${msg} ${n}`).join(', ')}`);
  for (const line of tally.examples) log(`  ${line}`);
  if (elapsed() > MAX_SECONDS && tally.requests < TARGET) log(`  gave up after ${MAX_SECONDS} s`);
  console.log(
    JSON.stringify({
      requests: tally.requests,
      lost,
      proxyErrors: tally.proxyErrors,
      faults: faultCount,
      seconds: Math.round(seconds),
    }),
  );
  return lost === 0 && tally.requests >= TARGET ? 0 : 1;
}

/** The reason of a 502/504 the proxy made itself (its JSON body, no app header), else undefined. */
function madeByProxy(status: number, app: unknown, body: string): string | undefined {
  if ((status !== 502 && status !== 504) || app !== undefined) return undefined;
  try {
    const parsed = JSON.parse(body) as { error?: unknown; reason?: unknown };
    return typeof parsed.error === 'string' && typeof parsed.reason === 'string' ? parsed.reason : undefined;
  } catch {
    return undefined;
  }
}

async function startRouteServer(
  port: number,
  handle: ReturnType<typeof createRouteHandler>,
): Promise<{ close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (!handle(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Held long-polls end now, as when the controller's pod goes away.
        server.closeAllConnections();
      }),
  };
}

process.exitCode = await main();
