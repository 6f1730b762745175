import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppProtocol } from '../src/annotations.js';
import { proxyNodeOptions } from '../src/injection/shape.js';

/** What the benchmarks share: free ports, child processes, nginx, wrk and a fixed-rate latency probe. */

export class MissingToolError extends Error {
  readonly code = 'MissingTool';
  constructor(readonly missing: { command: string; debianPackage: string }[]) {
    const packages = missing.map((m) => m.debianPackage).join(' ');
    super(
      `the benchmark runs ${missing.map((m) => m.command).join(' and ')}, not found on PATH: ` +
        `install ${missing.length === 1 ? 'it' : 'them'} (on Debian or Ubuntu: apt-get install ${packages}), ` +
        `or run BENCH_ONLY=webhook or BENCH_ONLY=match, which need neither`,
    );
    this.name = 'MissingToolError';
  }
}

/** Throws MissingToolError unless every command is an executable on PATH; each names its Debian package. */
export function requireTools(tools: { command: string; debianPackage: string }[]): void {
  const dirs = (process.env['PATH'] ?? '').split(':').filter(Boolean);
  const onPath = (command: string): boolean =>
    dirs.some((dir) => {
      try {
        accessSync(join(dir, command), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  const missing = tools.filter((tool) => !onPath(tool.command));
  if (missing.length > 0) throw new MissingToolError(missing);
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export function startChild(command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/**
 * `sluice proxy` as the benchmarks run it, in front of an app on `appPort`, with its routes from the
 * route server on `routePort` (namespace `bench`, Deployment `app`), run with the injected container's
 * NODE_OPTIONS unless told others.
 */
export function startSluiceProxy(options: {
  bin: string;
  port: number;
  adminPort: number;
  appPort: number;
  routePort: number;
  /** The app's protocol: `--app-protocol`, and the injected container's Node.js options for it [http]. */
  protocol?: AppProtocol;
  nodeOptions?: string | undefined;
}): ChildProcess {
  return startChild(process.execPath, [
    options.bin,
    'proxy',
    '--app-port', String(options.appPort),
    // Only when not http: a build from before the flag (BENCH_PROXY_BEFORE) is run too.
    ...(options.protocol === undefined || options.protocol === 'http' ? [] : ['--app-protocol', options.protocol]),
    '--listen-host', '127.0.0.1',
    '--listen-port', String(options.port),
    '--admin-port', String(options.adminPort),
    '--control-url', `http://127.0.0.1:${options.routePort}`,
    '--namespace', 'bench',
    '--deployment', 'app',
    '--drain-delay', '0s',
  ], { SLUICE_LOG_LEVEL: 'warn', NODE_OPTIONS: options.nodeOptions ?? proxyNodeOptions(options.protocol ?? 'http') }); // prettier-ignore
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Resident memory of a process now, in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** CPU seconds (user + system) used so far by a process and its direct children (nginx's workers). */
export function cpuSeconds(pid: number): number {
  const own = (p: number): number => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return 0;
    }
  };
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    children = [];
  }
  return own(pid) + children.reduce((sum, child) => sum + own(child), 0);
}

/** USER_HZ: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

export const BODY_100 = 'x'.repeat(99) + '\n';

export interface Nginx {
  pid: number;
  stop(): Promise<void>;
}

/** One nginx master with one worker, given the http{} block; its files live in a temp dir. */
export async function startNginx(httpBlock: string, ports: number[]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-nginx-'));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  ${httpBlock}
}
`,
  );
  const child = startChild('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')]);
  await Promise.all(ports.map((p) => waitForPort(p)));
  return {
    pid: child.pid as number,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface WrkResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/**
 * wrk with one thread (the proxy needs the other core), `connections` connections, for `seconds`; `script`,
 * a Lua file, sets what it sends (see wrkPostScript).
 */
export async function wrk(
  url: string,
  connections: number,
  seconds: number,
  onTick?: () => void,
  script?: string,
): Promise<WrkResult> {
  const scriptArgs = script === undefined ? [] : ['-s', script];
  const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...scriptArgs, url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ticker = onTick ? setInterval(onTick, 250) : undefined;
  await new Promise((resolve) => child.on('exit', resolve));
  clearInterval(ticker);
  children.delete(child);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0';
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const latency = (pct: string): number => {
    const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    if (m === null) return NaN;
    const value = Number(m[1]);
    return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
  };
  return {
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    requestsPerSecond: rps,
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    errors: Number(errors) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

/** A wrk script, written to `path`, that POSTs `body` as JSON on every request. */
export function wrkPostScript(path: string, body: string): string {
  const quote = '='.repeat(8);
  if (body.includes(`]${quote}]`)) throw new Error('the body cannot be put in a Lua long string');
  writeFileSync(
    path,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [${quote}[${body}]${quote}]\n`,
  );
  return path;
}

export interface ProbeResult {
  p50Ms: number;
  p99Ms: number;
  sent: number;
}

/** One keep-alive connection at a fixed rate, timed as `fixedRate` says, with µs timing. */
export async function fixedRateProbe(url: string, perSecond: number, seconds: number): Promise<ProbeResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(url);
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.get(
        { host: target.hostname, port: target.port, path: target.pathname, agent },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
    });
  try {
    return await fixedRate(one, perSecond, seconds);
  } finally {
    agent.destroy();
  }
}

/**
 * `send` (one request, over a connection the caller keeps alive) at a fixed rate, one at a time. A request
 * that had to wait for the one before it is timed from when it was due, so that a slow server is charged
 * with the queue it causes; one sent on time is timed from when it was sent, so that the probe's own timer
 * firing late is not charged to the server. Nothing spins: a spinning probe takes a core from the server
 * it measures on a 2-core machine. A server slower than the rate falls further behind with every request;
 * the probe gives up at three times its planned duration (`sent` says how far it got).
 */
export async function fixedRate(
  send: () => Promise<void>,
  perSecond: number,
  seconds: number,
): Promise<ProbeResult> {
  const interval = 1_000_000_000n / BigInt(perSecond);
  const total = perSecond * seconds;
  const latencies: number[] = [];
  // A warm-up request opens the connection.
  await send();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(seconds) * 3n * 1_000_000_000n;
  let previousEnd = start;
  for (let i = 0; i < total && previousEnd < deadline; i++) {
    const due = start + BigInt(i) * interval;
    const sleep = Number((due - process.hrtime.bigint()) / 1_000_000n);
    if (sleep > 0) await new Promise((r) => setTimeout(r, sleep));
    const sent = process.hrtime.bigint();
    const from = previousEnd > due ? due : sent;
    await send();
    previousEnd = process.hrtime.bigint();
    latencies.push(Number(previousEnd - from) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  return { p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), sent: latencies.length };
}

/** The q-quantile of values sorted ascending (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

export interface H2loadOptions {
  /** Connections, each with up to `streams` requests in flight. */
  clients: number;
  streams: number;
  seconds: number;
  /** Requests per second per connection; unset: as fast as the server answers. */
  rps?: number;
  /** A file whose bytes are POSTed as each request's body. */
  data?: string;
  headers?: Record<string, string>;
  onTick?: () => void;
}

/**
 * h2load (nghttp2's HTTP/2 load generator), one thread, HTTP/2 with prior knowledge. Its own summary has
 * no percentiles: they come from its per-request log (start, status, elapsed µs).
 */
export async function h2load(url: string, options: H2loadOptions): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-h2load-'));
  const logFile = join(dir, 'requests.tsv');
  const args = [
    '-t1',
    `-c${options.clients}`,
    `-m${options.streams}`,
    `-D${options.seconds}`,
    `--log-file=${logFile}`,
    ...(options.rps === undefined ? [] : [`--rps=${options.rps}`]),
    ...(options.data === undefined ? [] : ['-d', options.data]),
    ...Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    url,
  ];
  const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ticker = options.onTick ? setInterval(options.onTick, 250) : undefined;
  await new Promise((resolve) => child.on('exit', resolve));
  clearInterval(ticker);
  children.delete(child);
  const elapsedMs: number[] = [];
  let failed = 0;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const [, status, micros] = line.split('\t');
    if (status === undefined || micros === undefined) continue;
    if (status !== '200') failed++;
    elapsedMs.push(Number(micros) / 1000);
  }
  rmSync(dir, { recursive: true, force: true });
  elapsedMs.sort((a, b) => a - b);
  const summary =
    /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      out,
    );
  const done = Number(summary?.[2] ?? NaN);
  return {
    requests: done,
    requestsPerSecond: Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN),
    p50Ms: quantile(elapsedMs, 0.5),
    p99Ms: quantile(elapsedMs, 0.99),
    errors: failed + Number(summary?.[4] ?? 0) + Number(summary?.[5] ?? 0) + Number(summary?.[6] ?? 0),
  };
}

/** One gRPC message as the wire frames it: a compressed flag (0), a 4-byte length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}
