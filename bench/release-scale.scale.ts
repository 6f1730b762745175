import { readFileSync } from 'node:fs';
import { appendFile, mkdtemp, readdir } from 'node:fs/promises';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ProxyMetrics } from '../proxy/metrics.js';
import type { CanaryObject } from '../src/kube/canary-object.js';
import { Informer } from '../src/kube/informer.js';
import type { DeploymentObject } from '../src/kube/objects.js';
import { apiPath, KubeRest, loadKubeConfig } from '../src/kube/rest.js';
import { createLogger } from '../src/log.js';
import { startCluster, type Cluster } from '../test/support/kube.js';
import { podinfo, RELEASE_ANNOTATIONS } from '../test/support/podinfo-release.js';
import { freePort } from '../test/support/processes.js';
import { startPrometheus, type RunningPrometheus } from '../test/support/prometheus.js';
import {
  installSluice,
  startController,
  type ControllerRun,
  type Installed,
} from '../test/support/sluice-on-cluster.js';
import { cpuSeconds, quantile, round } from './tools.js';
import { eventually } from '../test/support/eventually.js';

/**
 * `npm run scale:releases` (issue 17, item 6(b)): SCALE_DEPLOYMENTS [500] opted-in Deployments on the test
 * control plane (kwok plays the kubelet; the real webhook holds every change) get a new image at once, and
 * one real `sluice controller` runs every release with the `prometheus` provider. The proxies' metrics are
 * generated: one small HTTP server per primary proxy serves the proxy's own exposition (proxy/metrics.ts)
 * with traffic split by the Canary's weight; every SCALE_FAIL_EVERY-th [10th] canary answers half its
 * requests with 500s, so both results happen. A real Prometheus scrapes them. Measured: every release's
 * result and when it came, the controller's CPU (from /proc, mean and peak over 1 s samples) and RSS, and
 * the API server's requests. Not a test: it never fails on timing, only when a release has no result
 * within SCALE_TIMEOUT_S [1200 s] or ends other than designed. SCALE_OUT appends the report to a file;
 * SCALE_CPU_PROF=1 writes the controller's CPU profile and names it.
 */

const env = process.env;
const DEPLOYMENTS = Number(env['SCALE_DEPLOYMENTS'] ?? 500);
const FAIL_EVERY = Number(env['SCALE_FAIL_EVERY'] ?? 10);
const REPLICAS = Number(env['SCALE_REPLICAS'] ?? 2);
/**
 * The releases' sluice.dev/interval [1m, sluice's default]. A canary not ready within two intervals is rolled
 * back: at 20s, 500 canaries started at once outgrow that on a shared 2-core control plane.
 */
const INTERVAL = env['SCALE_INTERVAL'] ?? '1m';
const SCRAPE_INTERVAL = env['SCALE_SCRAPE_INTERVAL'] ?? '5s';
/** kubectl processes changing the images, each a share of the Deployments, all at once. */
const WRITERS = Number(env['SCALE_WRITERS'] ?? 10);
const TIMEOUT_MS = Number(env['SCALE_TIMEOUT_S'] ?? 1200) * 1000;
const CPU_PROF = env['SCALE_CPU_PROF'] === '1';

const NAMESPACE = 'scale';
/** Requests each primary proxy forwards per second, split between the local app and the canary by weight. */
const REQUESTS_PER_SECOND = 20;
const ANNOTATIONS: Readonly<Record<string, string>> = {
  ...RELEASE_ANNOTATIONS,
  'sluice.dev/interval': INTERVAL,
};

const names = Array.from({ length: DEPLOYMENTS }, (_, i) => `app-${String(i).padStart(3, '0')}`);
const failing = (i: number): boolean => i % FAIL_EVERY === FAIL_EVERY - 1;
/** How each release must end (status.outcome.reason): the failing canaries rolled back, the others promoted. */
const expectedOutcome = new Map(names.map((name, i) => [name, failing(i) ? 'RolledBack' : 'Promoted']));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number): number => round(ms / 1000, 1);
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/**
 * The primary proxies' metrics endpoints, one HTTP server each, serving what `sluice proxy` serves on its
 * admin port: its ProxyMetrics registry. Every second each records REQUESTS_PER_SECOND requests, the
 * Canary's current weight of them to the canary.
 */
class GeneratedProxies {
  private readonly servers: http.Server[] = [];
  private readonly metrics = new Map<string, ProxyMetrics>();
  private timer: NodeJS.Timeout | undefined;
  readonly targets: string[] = [];

  async start(weightOf: (name: string) => number): Promise<void> {
    for (const name of names) {
      const metrics = new ProxyMetrics({
        namespace: NAMESPACE,
        deployment: name,
        role: 'primary',
        revision: 'v1',
      });
      const server = http.createServer((req, res) => {
        void metrics.registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.metrics.set(name, metrics);
      this.servers.push(server);
      this.targets.push(`127.0.0.1:${(server.address() as { port: number }).port}`);
    }
    this.timer = setInterval(() => {
      names.forEach((name, i) => {
        const metrics = this.metrics.get(name) as ProxyMetrics;
        const toCanary = Math.round((REQUESTS_PER_SECOND * weightOf(name)) / 100);
        for (let n = 0; n < REQUESTS_PER_SECOND - toCanary; n++) metrics.request('local', 200, 'GET', 0.004);
        for (let n = 0; n < toCanary; n++) {
          metrics.request('canary', failing(i) && n % 2 === 0 ? 500 : 200, 'GET', 0.006);
        }
      });
    }, 1_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const server of this.servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

/** A process's CPU and memory from /proc, sampled every second. */
class ProcessSampler {
  private readonly samples: { at: number; cpu: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pid: number) {}

  start(): void {
    const sample = () => this.samples.push({ at: performance.now(), cpu: cpuSeconds(this.pid) });
    sample();
    this.timer = setInterval(sample, 1_000);
  }

  /** Mean and peak (over any 1 s sample) cores since `start`, and the peak RSS of the process's life. */
  stop(): Usage {
    clearInterval(this.timer);
    this.samples.push({ at: performance.now(), cpu: cpuSeconds(this.pid) });
    const first = this.samples[0] as { at: number; cpu: number };
    const last = this.samples.at(-1) as { at: number; cpu: number };
    let peakCores = 0;
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1] as { at: number; cpu: number };
      const b = this.samples[i] as { at: number; cpu: number };
      if (b.at - a.at >= 500) peakCores = Math.max(peakCores, (b.cpu - a.cpu) / ((b.at - a.at) / 1000));
    }
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string): number =>
      Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
    return {
      meanCores: round((last.cpu - first.cpu) / ((last.at - first.at) / 1000), 3),
      peakCores: round(peakCores, 2),
      cpuSeconds: round(last.cpu - first.cpu, 1),
      rssMiB: round(kib('VmRSS') / 1024, 1),
      peakRssMiB: round(kib('VmHWM') / 1024, 1),
    };
  }
}

interface Usage {
  meanCores: number;
  peakCores: number;
  cpuSeconds: number;
  rssMiB: number;
  peakRssMiB: number;
}

const usageLine = (u: Usage): string =>
  `CPU ${u.cpuSeconds} s, mean ${u.meanCores} cores, peak ${u.peakCores} cores (1 s samples); ` +
  `RSS ${u.rssMiB} MiB at the end, peak ${u.peakRssMiB} MiB`;

/** The API server's requests so far (apiserver_request_total), by verb and resource. */
async function apiRequests(cluster: Cluster): Promise<Map<string, number>> {
  const text = await cluster.kubectl(['get', '--raw', '/metrics'], { timeoutMs: 60_000 });
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([^"]*)"/.exec(line)?.[1] ?? '';
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    const key = `${verb} ${resource}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

function requestsBetween(before: Map<string, number>, after: Map<string, number>): [string, number][] {
  return [...after]
    .map(([key, n]): [string, number] => [key, n - (before.get(key) ?? 0)])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
}

const phaseOf = (canary: CanaryObject | undefined): string => String(canary?.status?.['phase'] ?? 'none');
/** How the release ended (Promoted, RolledBack, Reverted, Cancelled); none while it runs. */
const outcomeOf = (canary: CanaryObject | undefined): string | undefined =>
  (canary?.status?.['outcome'] as { reason?: string } | undefined)?.reason;

/** How a release ended other than designed, with its outcome's message (revision left out). */
function unexpected(name: string, canaries: Informer<CanaryObject>): string {
  const outcome = canaries.get(name, NAMESPACE)?.status?.['outcome'] as
    { reason?: string; message?: string } | undefined;
  const message = (outcome?.message ?? '').replaceAll(/revision [0-9a-f]+/g, 'revision …');
  return `${expectedOutcome.get(name) ?? ''} expected, ${outcome?.reason ?? 'none'}: ${message}`;
}

/** `a 3, b 1`: how many items have each key, most first. */
function countBy<T>(items: readonly T[], key: (item: T) => string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

/** A warning's message and the start of its error's, without the names in it: `reconcileFailed: 409 Conflict`. */
function warningKind(line: Record<string, unknown>): string {
  const err = line['err'] as { message?: string; cause?: { message?: string } } | undefined;
  const message = [err?.message, err?.cause?.message].filter(Boolean).join(': ');
  const general = message
    .replaceAll(/\/[^\s:]*/g, '…')
    .replaceAll(/app-\d+/g, '…')
    .slice(0, 100);
  return `${String(line['msg'])}${general === '' ? '' : `: ${general}`}`;
}

function chunks<T>(items: readonly T[], count: number): T[][] {
  const size = Math.ceil(items.length / count);
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size),
  );
}

it(`${DEPLOYMENTS} releases at once reach a result`, { timeout: TIMEOUT_MS + 1_800_000 }, async () => {
  const report: string[] = [];
  const say = (line: string): void => {
    console.log(line);
    report.push(line);
  };
  const logger = createLogger('scale', 'error');
  const proxies = new GeneratedProxies();
  let cluster: Cluster | undefined;
  let installed: Installed | undefined;
  let rest: KubeRest | undefined;
  let canaries: Informer<CanaryObject> | undefined;
  let prometheus: RunningPrometheus | undefined;
  let controller: ControllerRun | undefined;
  const profileDir = CPU_PROF ? await mkdtemp(join(tmpdir(), 'sluice-controller-profile-')) : undefined;
  try {
    const setUpStarted = performance.now();
    say(
      `${DEPLOYMENTS} releases at once: ${DEPLOYMENTS} opted-in Deployments of ${REPLICAS} kwok pods, one ` +
        `sluice controller, interval ${INTERVAL}, step weights ${ANNOTATIONS['sluice.dev/step-weights']}, ` +
        `threshold ${ANNOTATIONS['sluice.dev/threshold']}; every ${FAIL_EVERY}th canary fails half its ` +
        `requests; prometheus provider, ${DEPLOYMENTS} generated proxy endpoints scraped every ${SCRAPE_INTERVAL}; ` +
        `load average ${load()}`,
    );
    cluster = await startCluster({
      maxPods: DEPLOYMENTS * (2 * REPLICAS + 1) + 100,
      controllerManagerQps: 100,
    });
    const c = cluster;
    installed = await installSluice(c);
    await c.kubectl(['create', 'namespace', NAMESPACE]);
    for (const chunk of chunks(names, Math.ceil(DEPLOYMENTS / 50))) {
      await c.apply(
        ...chunk.map((name) =>
          podinfo(NAMESPACE, 'example/podinfo:1.0', ANNOTATIONS, { name, replicas: REPLICAS }),
        ),
      );
    }
    const admin = new KubeRest(loadKubeConfig(c.kubeconfigPath));
    rest = admin;
    const deployments = async () =>
      (
        await admin.list<DeploymentObject & { status?: Record<string, number> }>(
          apiPath('apps/v1', 'deployments', NAMESPACE),
        )
      ).items;
    await eventually(
      'every Deployment rolled out',
      async () =>
        (await deployments()).filter((d) => d.status?.['readyReplicas'] === REPLICAS).length === DEPLOYMENTS,
      { timeoutMs: 900_000, intervalMs: 2_000 },
    );

    let releasedAt = 0;
    // Each Deployment's first release: any outcome is this release's.
    const results = new Map<string, { outcome: string; ms: number }>();
    const informer = new Informer<CanaryObject>(
      rest,
      apiPath('sluice.dev/v1alpha1', 'canaries', NAMESPACE),
      logger,
    );
    canaries = informer;
    informer.onChange((canary) => {
      const name = canary.metadata?.name ?? '';
      const outcome = outcomeOf(canary);
      if (releasedAt > 0 && outcome !== undefined && !results.has(name)) {
        results.set(name, { outcome, ms: performance.now() - releasedAt });
      }
    });
    await informer.start();
    await proxies.start((name) => Number(informer.get(name, NAMESPACE)?.status?.['canaryWeight'] ?? 0));
    prometheus = await startPrometheus(proxies.targets, { scrapeInterval: SCRAPE_INTERVAL });
    controller = await startController(
      installed,
      NAMESPACE,
      {
        controllerPort: await freePort(),
        prometheusUrl: prometheus.url,
        canaryUrlTemplate: 'http://{name}-canary.{namespace}:{port}',
      },
      // As deployed (the chart's defaults), not the end-to-end tests' quicker settings.
      {
        tick: '1s',
        leaseDuration: '15s',
        ...(profileDir !== undefined && { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
      },
    );
    await controller.waitForLog('leadership', 60_000);
    await eventually(
      'a Canary, Initialized, for every Deployment',
      async () => informer.list(NAMESPACE).filter((x) => phaseOf(x) === 'Initialized').length === DEPLOYMENTS,
      { timeoutMs: 600_000, intervalMs: 1_000 },
    );
    const idle = new ProcessSampler(controller.child.pid as number);
    idle.start();
    await sleep(10_000);
    const idleUsage = idle.stop();
    say(
      `set up in ${seconds(performance.now() - setUpStarted)} s (control plane, ${DEPLOYMENTS * REPLICAS} pods ` +
        `rolled out, ${DEPLOYMENTS} Canaries Initialized); the controller before the releases, 10 s: ${usageLine(idleUsage)}`,
    );

    const sampler = new ProcessSampler(controller.child.pid as number);
    const webhookSampler = new ProcessSampler(installed.webhook.child.pid as number);
    const requestsBefore = await apiRequests(c);
    sampler.start();
    webhookSampler.start();
    releasedAt = performance.now();
    const writes = chunks(names, WRITERS).map((chunk) =>
      c.kubectl(
        [
          'set',
          'image',
          '-n',
          NAMESPACE,
          ...chunk.map((n) => `deployment/${n}`),
          'podinfo=example/podinfo:2.0',
        ],
        {
          timeoutMs: 600_000,
        },
      ),
    );
    await Promise.all(writes);
    const writtenMs = performance.now() - releasedAt;
    const loads: string[] = [load()];
    let lastProgress = performance.now();
    while (results.size < DEPLOYMENTS && performance.now() - releasedAt < TIMEOUT_MS) {
      await sleep(1_000);
      if (performance.now() - lastProgress >= 30_000) {
        lastProgress = performance.now();
        loads.push(load());
        console.log(
          `  ${seconds(performance.now() - releasedAt)} s: ${results.size} results; phases: ` +
            `${countBy(informer.list(NAMESPACE), phaseOf)}; load average ${load()}`,
        );
      }
    }
    const lastResultMs = Math.max(0, ...[...results.values()].map((r) => r.ms));
    const measuredMs = performance.now() - releasedAt;
    const usage = sampler.stop();
    const webhookUsage = webhookSampler.stop();
    const requests = requestsBetween(requestsBefore, await apiRequests(c));
    loads.push(load());

    const stuck = names.filter((name) => !results.has(name));
    const promoted = [...results.values()].filter((r) => r.outcome === 'Promoted');
    const rolledBack = [...results.values()].filter((r) => r.outcome === 'RolledBack');
    const notAsDesigned = [...results]
      .filter(([name, r]) => r.outcome !== expectedOutcome.get(name))
      .map(([name]) => name);
    // What a user sees once each release ended: promoted Deployments unpaused on 2.0, rolled back ones paused.
    const final = await deployments();
    const heldAsDesigned = final.filter((d) => {
      const expected = expectedOutcome.get(d.metadata?.name ?? '');
      return (d.spec?.paused === true) === (expected === 'RolledBack');
    }).length;
    const times = (rs: { ms: number }[]) => {
      const sorted = rs.map((r) => r.ms).sort((a, b) => a - b);
      return sorted.length === 0
        ? 'none'
        : `p50 ${seconds(quantile(sorted, 0.5))} s, p99 ${seconds(quantile(sorted, 0.99))} s, last ${seconds(sorted.at(-1) ?? 0)} s`;
    };
    const warnings = controller.logs.filter((l) => Number(l['level']) >= 40);
    const totalRequests = requests.reduce((sum, [, n]) => sum + n, 0);

    say(
      `images changed: ${DEPLOYMENTS} Deployments by ${WRITERS} kubectl set image at once, all admitted in ${seconds(writtenMs)} s`,
    );
    say(
      `results: ${results.size} of ${DEPLOYMENTS} (promoted ${promoted.length}, rolled back ${rolledBack.length}); ` +
        `not as designed ${notAsDesigned.length}` +
        (notAsDesigned.length > 0 ? ` (${countBy(notAsDesigned, (n) => unexpected(n, informer))})` : '') +
        `; no result within ${seconds(TIMEOUT_MS)} s: ${stuck.length}` +
        (stuck.length > 0
          ? ` (phases: ${countBy(
              stuck.map((n) => informer.get(n, NAMESPACE)),
              phaseOf,
            )})`
          : ''),
    );
    say(
      `time from the image change to the result: all ${times([...results.values()])}; promoted ${times(promoted)}; rolled back ${times(rolledBack)}`,
    );
    say(`Deployments paused or not as their result says: ${heldAsDesigned} of ${DEPLOYMENTS}`);
    say(`controller (${DEPLOYMENTS} releases, change → last result): ${usageLine(usage)}`);
    say(`webhook over the same time: ${usageLine(webhookUsage)}`);
    say(
      `controller log: ${controller.logs.length} lines (${countBy(controller.logs, (l) => String(l['msg']))}), ` +
        `${warnings.length} warnings or errors` +
        (warnings.length > 0 ? ` (${countBy(warnings, warningKind)})` : ''),
    );
    say(
      `API server requests over the same time (all clients: controller, webhook's callers, kube-controller-manager, kwok, scheduler): ` +
        `${totalRequests}, ${round(totalRequests / (measuredMs / 1000), 0)}/s; ` +
        `top: ${requests
          .slice(0, 8)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')}`,
    );
    say(`load average during the run (1, 5, 15 min, every 30 s): ${loads.join(' | ')}`);
    say(
      JSON.stringify({
        deployments: DEPLOYMENTS,
        results: results.size,
        promoted: promoted.length,
        rolledBack: rolledBack.length,
        notAsDesigned: notAsDesigned.length,
        stuck: stuck.length,
        lastResultSeconds: seconds(lastResultMs),
        controllerMeanCores: usage.meanCores,
        controllerPeakCores: usage.peakCores,
        controllerPeakRssMiB: usage.peakRssMiB,
        apiRequests: totalRequests,
      }),
    );
    if (env['SCALE_OUT'] !== undefined) await appendFile(env['SCALE_OUT'], report.join('\n') + '\n');
    expect(stuck).toEqual([]);
    expect(notAsDesigned).toEqual([]);
  } finally {
    await controller?.stop();
    if (profileDir !== undefined) {
      for (const file of await readdir(profileDir))
        console.log(`controller CPU profile: ${join(profileDir, file)}`);
    }
    await canaries?.stop();
    rest?.close();
    await prometheus?.stop();
    await proxies.stop();
    await installed?.uninstall();
    await cluster?.stop();
  }
});
