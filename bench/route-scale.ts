import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, quantile, round } from './tools.js';
import type { ProxiesReport, ServerAnswer, ServerRequest } from './route-scale-ipc.js';

/**
 * `npm run scale:routes`: how long a route change takes to reach every proxy when SCALE_PROXIES [1000]
 * proxies long-poll one route server. The proxies are the RouteClient each `sluice proxy` runs,
 * SCALE_PER_PROCESS [250] to a process; the server is the controller's RouteStore and long-poll handler, in
 * a process of its own. SCALE_CHANGES [20] changes, one a second, first with one proxy (the baseline),
 * then with all of them. Not a test: it never fails on timing.
 */

const PROXIES = Number(process.env['SCALE_PROXIES'] ?? 1000);
const PER_PROCESS = Number(process.env['SCALE_PER_PROCESS'] ?? 250);
const CHANGES = Number(process.env['SCALE_CHANGES'] ?? 20);
const GAP_MS = 1_000;
/**
 * SCALE_NICE: a nice value for the route server's and the proxies' processes [0]. In a cluster the
 * controller and each proxy have CPU of their own; here other work on the machine can starve them, and a
 * negative value (root only) gives it back, to show what the code does when it gets the CPU.
 */
const NICE = Number(process.env['SCALE_NICE'] ?? 0);
/**
 * SCALE_PROXY_NICE: a nice value for the proxies' processes alone [SCALE_NICE]. In a cluster each proxy runs
 * on its pod's node; +10 puts the proxies behind the route server here, so that the figure shows what the
 * controller's side alone achieves when the proxies' CPU is elsewhere.
 */
const PROXY_NICE = Number(process.env['SCALE_PROXY_NICE'] ?? NICE);
/** A change not applied by every proxy within this long counts as missed. */
const CHANGE_TIMEOUT_MS = 15_000;
/**
 * How long the proxies may take to get their first table. Their first connects come all at once and
 * overflow the route server's accept queue; TCP retries the dropped ones after 1, 3, 7 and 15 s.
 */
const FIRST_TABLE_TIMEOUT_MS = 60_000;
const CANARY_URL = 'http://app-canary.scale:8080';
/** A table as a release with a test header and a user segment carries it: one exact match, one regex. */
const MATCH = [
  { header: 'x-canary', exact: 'always' },
  { header: 'x-user', regex: '^qa-' },
];

const SERVER = fileURLToPath(new URL('./route-scale-server.js', import.meta.url));
const PROXIES_PROCESS = fileURLToPath(new URL('./route-scale-proxies.js', import.meta.url));

/**
 * Connections the kernel dropped because a listener's accept queue was full, machine-wide (TcpExt
 * ListenOverflows): a crowd of proxies reconnecting at once shows here.
 */
function listenOverflows(): number {
  const [names, values] = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('TcpExt:'))
    .map((line) => line.split(/\s+/));
  return Number(values?.[names?.indexOf('ListenOverflows') ?? -1] ?? NaN);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The route server's process; its answers come in the order of the requests. */
class RouteServerProcess {
  readonly child: ChildProcess;
  private readonly waiting: ((answer: ServerAnswer) => void)[] = [];
  readonly port: Promise<number>;

  constructor() {
    this.child = fork(SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (NICE !== 0) setPriority(this.child.pid as number, NICE);
    this.port = new Promise((resolve) => this.waiting.push((a) => resolve((a as { port: number }).port)));
    this.child.on('message', (answer: ServerAnswer) => this.waiting.shift()?.(answer));
  }

  private ask<T extends ServerAnswer>(request: ServerRequest): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.push((answer) => resolve(answer as T));
      this.child.send(request);
    });
  }

  set(weight: number) {
    return this.ask<{ version: string; at: number }>({ set: { url: CANARY_URL, weight, match: MATCH } });
  }

  async lastTableAt(): Promise<number> {
    return (await this.ask<{ lastTableAt: number }>({ lastTable: true })).lastTableAt;
  }

  usage() {
    return this.ask<{ cpuMs: number; rssMiB: number; peakRssMiB: number; connections: number }>({
      usage: true,
    });
  }
}

interface PhaseResult {
  proxies: number;
  processes: number;
  /** Per change: from the change to the last proxy applying it, ms. */
  lastMs: number[];
  /** Per change: from the change to the route server's last table written, ms. */
  serverMs: number[];
  /** Every proxy's delay for every change, ms. */
  eachMs: number[];
  missed: number;
  /** Listen queue overflows on the machine during the changes. */
  overflows: number;
  serverCpuMsPerChange: number;
  /** CPU the route clients spent per change, per proxy: in a cluster each proxy spends it on its own node. */
  proxyCpuUsPerChange: number;
  serverCpuMsPerSecondIdle: number;
  serverRssMiB: number;
  serverPeakRssMiB: number;
  connections: number;
}

let weight = 0;

async function phase(server: RouteServerProcess, proxies: number, url: string): Promise<PhaseResult> {
  const applied = new Map<string, number[]>();
  const first = await server.set(++weight);
  const processes = Math.ceil(proxies / PER_PROCESS);
  const children = Array.from({ length: processes }, (_, i) => {
    const count = Math.min(PER_PROCESS, proxies - i * PER_PROCESS);
    const child = fork(PROXIES_PROCESS, [url, String(count)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (PROXY_NICE !== 0) setPriority(child.pid as number, PROXY_NICE);
    child.on('message', (report: ProxiesReport) => {
      for (const [version, at] of report.applied) {
        const list = applied.get(version) ?? [];
        list.push(at);
        applied.set(version, list);
      }
    });
    return child;
  });
  const appliedBy = async (version: string, timeoutMs = CHANGE_TIMEOUT_MS): Promise<number[] | undefined> => {
    const deadline = Date.now() + timeoutMs;
    while ((applied.get(version)?.length ?? 0) < proxies) {
      if (Date.now() > deadline) return undefined;
      await sleep(10);
    }
    return applied.get(version);
  };
  if ((await appliedBy(first.version, FIRST_TABLE_TIMEOUT_MS)) === undefined)
    throw new Error(
      `${proxies} proxies did not all get their first table within ${FIRST_TABLE_TIMEOUT_MS} ms`,
    );
  // Every proxy is now in a held long-poll.
  await sleep(GAP_MS);

  const idleBefore = await server.usage();
  await sleep(5 * GAP_MS);
  const before = await server.usage();
  const overflowsBefore = listenOverflows();
  const proxiesCpu = () => children.reduce((sum, child) => sum + cpuSeconds(child.pid as number), 0);
  const proxiesCpuBefore = proxiesCpu();
  const lastMs: number[] = [];
  const serverMs: number[] = [];
  const eachMs: number[] = [];
  let missed = 0;
  for (let i = 0; i < CHANGES; i++) {
    const change = await server.set(++weight);
    const times = await appliedBy(change.version);
    if (times === undefined) missed++;
    else {
      const delays = times.map((t) => t - change.at);
      eachMs.push(...delays);
      lastMs.push(Math.max(...delays));
      serverMs.push((await server.lastTableAt()) - change.at);
    }
    await sleep(GAP_MS);
  }
  const after = await server.usage();
  const overflows = listenOverflows() - overflowsBefore;
  const proxiesCpuSeconds = proxiesCpu() - proxiesCpuBefore;
  for (const child of children) child.disconnect();
  await Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve))));
  return {
    proxies,
    processes,
    lastMs,
    serverMs,
    eachMs,
    missed,
    overflows,
    serverCpuMsPerChange: (after.cpuMs - before.cpuMs) / CHANGES,
    proxyCpuUsPerChange: (proxiesCpuSeconds * 1e6) / CHANGES / proxies,
    serverCpuMsPerSecondIdle: (before.cpuMs - idleBefore.cpuMs) / 5,
    serverRssMiB: after.rssMiB,
    serverPeakRssMiB: after.peakRssMiB,
    connections: after.connections,
  };
}

function describe(result: PhaseResult): string {
  const last = [...result.lastMs].sort((a, b) => a - b);
  const each = [...result.eachMs].sort((a, b) => a - b);
  const server = [...result.serverMs].sort((a, b) => a - b);
  return (
    `${result.proxies} proxies in ${result.processes} processes, ${CHANGES} changes: change → last proxy ` +
    `p50 ${quantile(last, 0.5).toFixed(1)} ms, p99 ${quantile(last, 0.99).toFixed(1)} ms, ` +
    `max ${(last.at(-1) ?? NaN).toFixed(1)} ms; change → each proxy p50 ${quantile(each, 0.5).toFixed(1)} ms, ` +
    `p99 ${quantile(each, 0.99).toFixed(1)} ms; change → route server's last answer written p50 ` +
    `${quantile(server, 0.5).toFixed(1)} ms, p99 ${quantile(server, 0.99).toFixed(1)} ms; missed ${result.missed}; listen queue overflows ${result.overflows}; route server: ` +
    `${result.serverCpuMsPerChange.toFixed(1)} ms CPU per change, ${result.serverCpuMsPerSecondIdle.toFixed(1)} ms ` +
    `CPU per second while holding, RSS ${result.serverRssMiB.toFixed(1)} MiB (peak ${result.serverPeakRssMiB.toFixed(1)}), ` +
    `${result.connections} connections; each proxy ${result.proxyCpuUsPerChange.toFixed(0)} µs CPU per change`
  );
}

const log = (line: string) => console.log(line);
log(
  `route propagation: ${PROXIES} proxies (RouteClient, ${PER_PROCESS} to a process) long-polling one route ` +
    `server (RouteStore + long-poll handler, its own process); ${CHANGES} changes ${GAP_MS} ms apart; ` +
    `${cpus().length} cores shared with the proxies' processes and other work, nice ${NICE} (proxies ${PROXY_NICE}), load average ` +
    `${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
const server = new RouteServerProcess();
const url = `http://127.0.0.1:${await server.port}`;
try {
  const baseline = await phase(server, 1, url);
  log(`  baseline: ${describe(baseline)}`);
  const scaled = await phase(server, PROXIES, url);
  log(`  at scale: ${describe(scaled)}`);
  const p99 = (values: number[]) =>
    quantile(
      [...values].sort((a, b) => a - b),
      0.99,
    );
  console.log(
    JSON.stringify({
      proxies: PROXIES,
      changes: CHANGES,
      lastProxyP99Ms: round(p99(scaled.lastMs), 1),
      lastProxyP99VsOneProxy: round(p99(scaled.lastMs) / p99(baseline.lastMs), 1),
      eachProxyP99Ms: round(p99(scaled.eachMs), 1),
      serverLastAnswerP99Ms: round(p99(scaled.serverMs), 1),
      missed: scaled.missed,
      listenOverflows: scaled.overflows,
      serverCpuMsPerChange: round(scaled.serverCpuMsPerChange, 1),
      serverCpuMsPerSecondHolding: round(scaled.serverCpuMsPerSecondIdle, 1),
      serverRssMiB: round(scaled.serverRssMiB, 1),
      proxyCpuUsPerChange: round(scaled.proxyCpuUsPerChange, 0),
      serverPeakRssMiB: round(scaled.serverPeakRssMiB, 1),
    }),
  );
} finally {
  server.child.disconnect();
}
