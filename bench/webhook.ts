import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { admit } from '../webhook/admit.js';
import { WEBHOOK_NODE_OPTIONS } from '../webhook/command.js';
import type { AdmissionRequest } from '../webhook/review.js';
import {
  cpuSeconds,
  fixedRate,
  mainThreadCpuSeconds,
  freePort,
  median,
  quantile,
  round,
  rssMiB,
  startChild,
  stopChild,
  waitForPort,
  wrk,
  wrkPostScript,
  type ProbeResult,
  type WrkResult,
} from './tools.js';
import { BENCH_CONFIG, benchReviews, reviewBody } from './webhook-review.js';

/**
 * Admission (issue 3). In process: the pure `admit` on a held image change (revision hashing, gzip of the
 * candidate, the patch) and on an opt-in (validation, injection). Over HTTPS: the real `sluice webhook
 * --standalone` process answering the held image change, against the baseline of the same HTTPS server
 * answering a static allow (bench/allow-server.ts), interleaved round by round: wrk's keep-alive
 * connections for throughput, then one keep-alive connection at a fixed rate for latency.
 */

export interface WebhookBenchOptions {
  /** Timed admit() calls per case and round, after `warmup` untimed ones. */
  iterations: number;
  warmup: number;
  rounds: number;
  seconds: number;
  /**
   * Untimed wrk load on each server before the first round: V8 compiles the webhook's hot paths and grows
   * its young generation during the first few thousand reviews, which counted against round 1 of every run.
   */
  warmupSeconds: number;
  connections: number;
  probeRate: number;
  /** A second, lower fixed rate: the latency of a review that does not wait behind others. */
  lowProbeRate: number;
  probeSeconds: number;
  log: (line: string) => void;
}

export interface Quantiles {
  p50Us: number;
  p99Us: number;
}

export interface WebhookBenchResult {
  inProcess: { heldImageChange: Quantiles; optIn: Quantiles };
  reviewBytes: number;
  p50MsAt500: number;
  p99MsAt500: number;
  lowRate: {
    perSecond: number;
    p50Ms: number;
    p99Ms: number;
    staticAllowP50Ms: number;
    staticAllowP99Ms: number;
  };
  /** The webhook's p99 at the probe rate over the static allow's. */
  addedP99MsAt500: number;
  reviewsPerSecond: number;
  staticAllowReviewsPerSecond: number;
  vsStaticAllow: number;
  /** CPU per review of the whole process (with V8's GC threads) and of its JavaScript thread alone. */
  cpuUsPerReview: { staticAllow: number; webhook: number; webhookMainThread: number };
  /** 1 / main-thread CPU per review: the reviews/s of one core given wholly to the webhook's JavaScript thread. */
  reviewsPerCoreSecond: number;
  rssMiB: number;
  errors: number;
}

type Path = 'staticAllow' | 'webhook';

const SETTLE_MS = 1_000;

const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));
const ALLOW_SERVER = fileURLToPath(new URL('./allow-server.js', import.meta.url));

const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function timeAdmit(request: AdmissionRequest, iterations: number, warmup: number): Quantiles {
  for (let i = 0; i < warmup; i++) admit(request, BENCH_CONFIG);
  const samples = new Array<number>(iterations);
  for (let i = 0; i < iterations; i++) {
    const started = process.hrtime.bigint();
    admit(request, BENCH_CONFIG);
    samples[i] = Number(process.hrtime.bigint() - started) / 1e3;
  }
  samples.sort((a, b) => a - b);
  return { p50Us: quantile(samples, 0.5), p99Us: quantile(samples, 0.99) };
}

/** POST /mutate over a keep-alive connection of `agent`; the reply's body, after checking its status. */
function post(agent: https.Agent, port: number, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mutate',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(text);
          else reject(new Error(`POST /mutate on port ${port} answered ${res.statusCode}: ${text}`));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Both servers answer before anything is timed: the webhook holds the change, the baseline allows. */
async function checkAnswers(ca: string, ports: Record<Path, number>, body: string): Promise<void> {
  const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 1 });
  try {
    const held = JSON.parse(await post(agent, ports.webhook, body)) as {
      response: { allowed: boolean; patch?: string };
    };
    const patch = Buffer.from(held.response.patch ?? '', 'base64').toString('utf8');
    if (!held.response.allowed || !patch.includes('sluice.dev~1candidate'))
      throw new Error('the webhook did not hold the image change');
    const allowed = JSON.parse(await post(agent, ports.staticAllow, body)) as {
      response: { allowed: boolean };
    };
    if (!allowed.response.allowed) throw new Error('the static allow server did not allow');
  } finally {
    agent.destroy();
  }
}

export async function benchWebhook(options: WebhookBenchOptions): Promise<WebhookBenchResult> {
  const { log } = options;
  const reviews = benchReviews();
  const body = reviewBody(reviews.heldImageChange);
  const reviewBytes = Buffer.byteLength(body);

  log(
    `webhook in process: admit() on a ${(reviewBytes / 1024).toFixed(1)} KiB review, ${options.rounds} rounds × ` +
      `${options.iterations} calls per case after ${options.warmup} warm-up calls; load average ` +
      `${loadAverage()} (other work shares the cores)`,
  );
  const inProcess: Record<'heldImageChange' | 'optIn', Quantiles[]> = { heldImageChange: [], optIn: [] };
  for (let r = 1; r <= options.rounds; r++) {
    for (const name of ['heldImageChange', 'optIn'] as const) {
      const q = timeAdmit(reviews[name], options.iterations, options.warmup);
      inProcess[name].push(q);
      log(`  round ${r} ${name.padEnd(15)} p50 ${q.p50Us.toFixed(1)} µs p99 ${q.p99Us.toFixed(1)} µs`);
    }
  }
  const inProcessMedian = (name: 'heldImageChange' | 'optIn'): Quantiles => ({
    p50Us: round(median(inProcess[name].map((q) => q.p50Us)), 1),
    p99Us: round(median(inProcess[name].map((q) => q.p99Us)), 1),
  });

  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-webhook-'));
  const certDir = join(dir, 'certs');
  const [webhookPort, allowPort] = (await Promise.all([freePort(), freePort()])) as [number, number];
  const ports: Record<Path, number> = { staticAllow: allowPort, webhook: webhookPort };
  const webhook = startChild(process.execPath, [
    SLUICE_BIN, 'webhook', '--standalone',
    '--host', '127.0.0.1',
    '--port', String(webhookPort),
    '--cert-dir', certDir,
    '--shutdown-grace', '1s',
  ], { SLUICE_LOG_LEVEL: 'warn', NODE_OPTIONS: WEBHOOK_NODE_OPTIONS }); // prettier-ignore
  let allow: ReturnType<typeof startChild> | undefined;
  const load: Record<Path, WrkResult[]> = { staticAllow: [], webhook: [] };
  const probe: Record<Path, ProbeResult[]> = { staticAllow: [], webhook: [] };
  const lowProbe: Record<Path, ProbeResult[]> = { staticAllow: [], webhook: [] };
  const cpuPerReview: Record<Path, number[]> = { staticAllow: [], webhook: [] };
  // CPU per review is steadier than throughput when other work shares the cores.
  const mainThreadCpuPerReview: number[] = [];
  let peakRss = 0;
  try {
    await waitForPort(webhookPort);
    // The baseline serves the certificate the webhook generated, so that both do the same TLS.
    allow = startChild(process.execPath, [ALLOW_SERVER, String(allowPort), certDir]);
    await waitForPort(allowPort);
    const pids: Record<Path, number> = { staticAllow: allow.pid as number, webhook: webhook.pid as number };
    const ca = readFileSync(join(certDir, 'ca.crt'), 'utf8');
    await checkAnswers(ca, ports, body);
    const script = wrkPostScript(join(dir, 'review.lua'), body);

    log(
      `webhook over HTTPS: ${options.warmupSeconds} s of untimed wrk load on each server, then ` +
        `${options.rounds} rounds × (static allow, webhook), the held image change; ` +
        `wrk ${options.connections} keep-alive connections for ${options.seconds} s, then 1 keep-alive ` +
        `connection at ${options.lowProbeRate} and at ${options.probeRate} reviews/s for ${options.probeSeconds} s ` +
        `each. Each server is one ` +
        `single-threaded Node.js process ("one core"); wrk and this probe share the machine's other core, ` +
        `and any other work on it, with them.`,
    );
    for (const path of ['staticAllow', 'webhook'] as const) {
      await wrk(
        `https://127.0.0.1:${ports[path]}/mutate`,
        options.connections,
        options.warmupSeconds,
        undefined,
        script,
      );
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    for (let r = 1; r <= options.rounds; r++) {
      for (const path of ['staticAllow', 'webhook'] as const) {
        const sample = () => {
          if (path === 'webhook') peakRss = Math.max(peakRss, rssMiB(pids.webhook));
        };
        const cpuBefore = cpuSeconds(pids[path]);
        const mainThreadBefore = mainThreadCpuSeconds(pids[path]);
        const result = await wrk(
          `https://127.0.0.1:${ports[path]}/mutate`,
          options.connections,
          options.seconds,
          sample,
          script,
        );
        load[path].push(result);
        cpuPerReview[path].push(((cpuSeconds(pids[path]) - cpuBefore) / result.requests) * 1e6);
        if (path === 'webhook')
          mainThreadCpuPerReview.push(
            ((mainThreadCpuSeconds(pids[path]) - mainThreadBefore) / result.requests) * 1e6,
          );
        // The reviews wrk left queued are answered before the probe starts, so that it measures the rate alone.
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        const probeAt = (rate: number) => {
          const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 1 });
          return fixedRate(
            async () => void (await post(agent, ports[path], body)),
            rate,
            options.probeSeconds,
          ).finally(() => agent.destroy());
        };
        const low = await probeAt(options.lowProbeRate);
        lowProbe[path].push(low);
        const latency = await probeAt(options.probeRate);
        probe[path].push(latency);
        log(
          `  round ${r} ${path.padEnd(11)} ${Math.round(result.requestsPerSecond).toString().padStart(6)} reviews/s, ` +
            `p99 ${result.p99Ms.toFixed(2)} ms, errors ${result.errors}, ` +
            `${(cpuPerReview[path].at(-1) ?? NaN).toFixed(0)} µs CPU/review` +
            (path === 'webhook'
              ? ` (JS thread ${(mainThreadCpuPerReview.at(-1) ?? NaN).toFixed(0)} µs)`
              : '') +
            `; at ${options.lowProbeRate}/s p50 ${low.p50Ms.toFixed(3)} ms p99 ${low.p99Ms.toFixed(3)} ms` +
            `; at ${options.probeRate}/s ` +
            `p50 ${latency.p50Ms.toFixed(3)} ms p99 ${latency.p99Ms.toFixed(3)} ms` +
            (latency.sent < options.probeRate * options.probeSeconds
              ? ` (${latency.sent} sent in time)`
              : ''),
        );
      }
    }
  } finally {
    if (allow !== undefined) await stopChild(allow);
    await stopChild(webhook);
    rmSync(dir, { recursive: true, force: true });
  }

  const rps = (path: Path) => median(load[path].map((r) => r.requestsPerSecond));
  const p50 = (path: Path) => median(probe[path].map((r) => r.p50Ms));
  const p99 = (path: Path) => median(probe[path].map((r) => r.p99Ms));
  const lowP50 = (path: Path) => median(lowProbe[path].map((r) => r.p50Ms));
  const lowP99 = (path: Path) => median(lowProbe[path].map((r) => r.p99Ms));
  const cpu = (path: Path) => median(cpuPerReview[path]);
  const mainThreadCpu = median(mainThreadCpuPerReview);
  const held = inProcessMedian('heldImageChange');
  log(
    `webhook medians: in process, held image change p50 ${held.p50Us} µs p99 ${held.p99Us} µs, opt-in ` +
      `p50 ${inProcessMedian('optIn').p50Us} µs p99 ${inProcessMedian('optIn').p99Us} µs. Over HTTPS at ` +
      `${options.lowProbeRate}/s: webhook p50 ${lowP50('webhook').toFixed(3)} ms p99 ${lowP99('webhook').toFixed(3)} ms, ` +
      `static allow p50 ${lowP50('staticAllow').toFixed(3)} ms p99 ${lowP99('staticAllow').toFixed(3)} ms; at ` +
      `${options.probeRate}/s: webhook p50 ${p50('webhook').toFixed(3)} ms p99 ${p99('webhook').toFixed(3)} ms, ` +
      `static allow p50 ${p50('staticAllow').toFixed(3)} ms p99 ${p99('staticAllow').toFixed(3)} ms` +
      (rps('webhook') < options.probeRate
        ? ` (the webhook answers fewer than ${options.probeRate}/s here: its latency is queueing)`
        : '') +
      `. Saturation: webhook ${Math.round(rps('webhook'))} reviews/s, ` +
      `${(rps('webhook') / rps('staticAllow')).toFixed(2)} × the static allow's ${Math.round(rps('staticAllow'))}; ` +
      `CPU per review ${cpu('webhook').toFixed(0)} µs, ${(cpu('webhook') / cpu('staticAllow')).toFixed(2)} × the ` +
      `static allow's ${cpu('staticAllow').toFixed(0)} µs; its JavaScript thread ${mainThreadCpu.toFixed(0)} µs, so ` +
      `${Math.round(1e6 / mainThreadCpu)} reviews/s on a core of its own; admit()'s p50 is ` +
      `${((held.p50Us / mainThreadCpu) * 100).toFixed(0)}% of that thread's CPU per review. Webhook peak RSS ${peakRss.toFixed(1)} MiB. Load average now ${loadAverage()}.`,
  );
  return {
    inProcess: { heldImageChange: held, optIn: inProcessMedian('optIn') },
    reviewBytes,
    lowRate: {
      perSecond: options.lowProbeRate,
      p50Ms: round(lowP50('webhook'), 3),
      p99Ms: round(lowP99('webhook'), 3),
      staticAllowP50Ms: round(lowP50('staticAllow'), 3),
      staticAllowP99Ms: round(lowP99('staticAllow'), 3),
    },
    p50MsAt500: round(p50('webhook'), 3),
    p99MsAt500: round(p99('webhook'), 3),
    addedP99MsAt500: round(p99('webhook') - p99('staticAllow'), 3),
    reviewsPerSecond: Math.round(rps('webhook')),
    staticAllowReviewsPerSecond: Math.round(rps('staticAllow')),
    vsStaticAllow: round(rps('webhook') / rps('staticAllow')),
    cpuUsPerReview: {
      staticAllow: round(cpu('staticAllow'), 0),
      webhook: round(cpu('webhook'), 0),
      webhookMainThread: round(mainThreadCpu, 0),
    },
    reviewsPerCoreSecond: Math.round(1e6 / mainThreadCpu),
    rssMiB: round(peakRss, 1),
    errors: [...load.staticAllow, ...load.webhook].reduce((sum, r) => sum + r.errors, 0),
  };
}
