import http from 'node:http';
import type { CanaryConfig } from '../annotations.js';
import { formatGate, type GateType } from '../gates.js';
import type { Logger } from '../log.js';
import type { MetricsProvider } from '../metrics/provider.js';
import { formatObjective } from '../objectives.js';
import { recordStep } from '../page/from-release.js';
import { createPageHandler } from '../page/handler.js';
import { ReleaseRecorder } from '../page/view.js';
import { LocalPlatform } from './local-platform.js';
import { formatLatency } from '../release/check.js';
import { ReleaseRunner } from '../release/runner.js';
import type { ReleaseStatus } from '../release/status.js';
import { formatMatch, type HeaderMatch } from '../match.js';
import { RouteStore, createRouteHandler } from '../routes/server.js';
import { closeServer, listen, sendText } from '../server.js';
import { LocalCluster } from './cluster.js';
import { scenarioVersions, type Scenario } from './config.js';
import { DemoGate } from './gate.js';
import { startLoad, type LoadTotals } from './load.js';

/**
 * `sluice demo`: a whole release on this machine. The primaries run v1, v2 is pushed after a short
 * warm-up, and the runner takes it through analysis to promotion or rollback, with the local platform and
 * a metrics provider reading the primary proxies. Prints the release's steps as it goes and returns the
 * outcome.
 */

export interface DemoOptions {
  scenario: Scenario;
  config: CanaryConfig;
  /** Replicas of the primary. */
  replicas: number;
  /** Requests per second of ordinary traffic, and of traffic carrying the first match (`traffic: test`). */
  rate: number;
  testRate: number;
  /** The port of the live page and the route server; 0 picks a free one. */
  port: number;
  /** How long the primaries take traffic before v2 is pushed. */
  warmupMs: number;
  /** Keep the live page up this long after the result. */
  lingerMs: number;
  /** Gate types the demo's built-in gate (gate.ts) holds until it is opened. */
  gate?: readonly GateType[];
  /** The metrics provider, given the /metrics URLs of the primary proxies as they are now. */
  provider: (metricsUrls: () => string[]) => MetricsProvider;
  logger: Logger;
  /** The human output: one line per call. */
  print: (line: string) => void;
  namespace?: string;
  deployment?: string;
}

export interface DemoResult {
  result: 'promoted' | 'rolled-back' | 'unfinished';
  phase: string;
  seconds: number;
  requests: number;
  canaryRequests: number;
  canaryFailures: number;
  /** Share of all requests that the canary failed, in percent: the release's blast radius. */
  blastRadius: number;
  /** The same, leaving out the test-header requests: what users without the header saw. */
  userBlastRadius: number;
  testRequests: number;
  testCanaryRequests: number;
  /** Copies of ordinary requests the primaries sent the canary (`--mirror`); their answers were dropped. */
  mirroredRequests: number;
  /** Ordinary requests sent inside the segment (`--segment`), and those the canary answered. */
  segmentRequests: number;
  segmentCanaryRequests: number;
  scenario: Scenario;
}

/** How long the demo may run past the progress deadline before it gives up. */
const OVERRUN_MS = 30_000;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { logger, print, scenario } = options;
  let config = options.config;
  const namespace = options.namespace ?? 'demo';
  const deployment = options.deployment ?? 'podinfo';
  const name = `${deployment}.${namespace}`;
  const started = Date.now();
  const say = (line: string): void =>
    print(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s  ${line}`);
  const { stable, candidate } = scenarioVersions(scenario);
  const budgetMs = config.progressDeadlineMs + OVERRUN_MS;
  // Whatever is started is stopped, last first, however the demo ends.
  const stops: (() => Promise<unknown>)[] = [];

  try {
    const routes = new RouteStore();
    const recorder = new ReleaseRecorder({
      namespace,
      deployment,
      objectives: config.objectives.map(formatObjective),
      maxWeight: config.maxWeight,
      threshold: config.threshold,
      phase: 'Initialized',
      startedAt: started,
    });
    const url = await serve(routes, recorder, new DemoGate(), options.port, stops);
    const builtIn = (options.gate ?? []).map((type) => ({ type, url: `${url}/gate/check` }));
    config = { ...config, gates: [...config.gates, ...builtIn] };

    const cluster = await LocalCluster.start({
      namespace,
      deployment,
      replicas: options.replicas,
      stable,
      controlUrl: url,
      logger,
    });
    stops.push(() => cluster.stop());
    const platform = new LocalPlatform({
      namespace,
      deployment,
      cluster,
      routes,
      revisions: { [stable.version]: stable, [candidate.version]: candidate },
      stableRevision: stable.version,
      onEvent: (event) => say(event.message),
    });
    stops.push(() => platform.settled());
    const provider = options.provider(() => cluster.primaries.map((pod) => `${pod.adminUrl}/metrics`));

    const testMatch = config.match.find((m) => m.header !== undefined && m.exact !== undefined);
    const segmentMatch = config.segment.find((m) => m.exact !== undefined);
    const load = startLoad({
      targets: cluster.primaries.map((pod) => pod.url),
      rate: options.rate,
      testRate: testMatch === undefined ? 0 : options.testRate,
      testHeader: { name: testMatch?.header ?? 'traffic', value: testMatch?.exact ?? 'test' },
      ...(segmentMatch && { segment: { headers: segmentHeaders(segmentMatch), share: SEGMENT_SHARE } }),
      maxRequests: Math.ceil(((options.rate + options.testRate) * (budgetMs + options.warmupMs)) / 1000),
      maxDurationMs: budgetMs + options.warmupMs,
    });
    stops.push(() => load.stop());
    const showTraffic = async (totals: LoadTotals): Promise<void> =>
      recorder.traffic({ ...trafficOf(totals), mirrored: await mirroredRequests(cluster) });
    const trafficTimer = setInterval(() => void showTraffic(load.totals()), 250);
    stops.push(() => Promise.resolve(clearInterval(trafficTimer)));

    print(`sluice demo: scenario ${scenario} (${describeScenario(scenario)})`);
    print(`Live page: ${url}/`);
    print(
      `${name}: ${options.replicas} primary replicas of ${stable.version} behind sluice proxies; ` +
        `load ${options.rate} req/s` +
        (testMatch === undefined
          ? ''
          : `, plus ${options.testRate} req/s with ${testMatch.header}: ${testMatch.exact}`) +
        (segmentMatch === undefined
          ? ''
          : `; ${SEGMENT_SHARE * 100}% of it in the segment (${formatMatch(segmentMatch)})`),
    );
    if (config.segment.length > 0 && segmentMatch === undefined)
      print(
        `The segment has only regular expressions: the demo sends no traffic in it ` +
          `(give --segment header=value or cookie:name=value to see the segment move)`,
      );
    print(
      `Analysis every ${formatLatency(config.intervalMs)}, weights ${config.weights.join(', ')}, ` +
        `threshold ${config.threshold}, objectives ${config.objectives.map(formatObjective).join(', ')}`,
    );
    if (config.mirror !== null) {
      print(
        `Mirroring: ${config.mirror}% of the GETs copied to v2, answers discarded, for ` +
          `${config.mirrorChecks} passing checks before any user request reaches it`,
      );
    }
    if (config.gates.length > 0) print(`Gates: ${config.gates.map(formatGate).join(', ')}`);
    if (builtIn.length > 0) {
      print(
        `The demo gate is closed: the release halts at ${builtIn.map((g) => g.type).join(', ')} until you ` +
          `open it: curl -X POST ${url}/gate/open`,
      );
    }
    if (provider.name !== 'direct') {
      // The proxies listen on free ports chosen now: whoever runs that Prometheus must add them.
      const targets = cluster.primaries.map((pod) => pod.adminUrl.replace('http://', ''));
      print(`Metrics from ${provider.name}: it must scrape ${targets.join(', ')} (path /metrics)`);
    }

    const runner = new ReleaseRunner({
      target: { namespace, deployment },
      config,
      platform,
      provider,
      logger,
      onStep: (report) => recordStep(recorder, report),
    });
    await new Promise((resolve) => setTimeout(resolve, options.warmupMs));
    say(
      `New revision ${candidate.version} pushed: held by the webhook, the primaries keep ${stable.version}`,
    );
    platform.deploy(candidate.version);
    const tickMs = Math.max(100, Math.min(500, config.intervalMs / 10));
    const final = await runner.runUntilSettled(tickMs, AbortSignal.timeout(budgetMs));
    await runner.eventsSent();
    await platform.settled();
    const totals = await load.stop();
    const mirrored = await mirroredRequests(cluster);
    recorder.traffic({ ...trafficOf(totals), mirrored });

    const result = resultOf(final);
    if (result !== 'unfinished') recorder.finish(result);
    if (result === 'rolled-back') say(`Canary failed: ${name} stays at ${stable.version}`);
    if (result === 'unfinished') say(`No result within ${formatLatency(budgetMs)}: giving up`);
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    if (options.lingerMs > 0) {
      print(`The live page stays up for ${formatLatency(options.lingerMs)}: ${url}/`);
      await new Promise((resolve) => setTimeout(resolve, options.lingerMs));
    }
    return {
      result,
      phase: final.phase,
      seconds,
      requests: totals.requests,
      canaryRequests: totals.canaryRequests,
      canaryFailures: totals.canaryFailures,
      blastRadius: percent(totals.canaryFailures, totals.requests),
      userBlastRadius: percent(
        totals.canaryFailures - totals.testCanaryFailures,
        totals.requests - totals.testRequests,
      ),
      testRequests: totals.testRequests,
      testCanaryRequests: totals.testCanaryRequests,
      mirroredRequests: mirrored,
      segmentRequests: totals.segmentRequests,
      segmentCanaryRequests: totals.segmentCanaryRequests,
      scenario,
    };
  } finally {
    while (stops.length > 0) await stops.pop()?.();
  }
}

/**
 * The demo's one server, as the controller's would be: the route long-poll and the live page; and the demo
 * gate, which a cluster would run apart (Flagger's load tester).
 */
async function serve(
  routes: RouteStore,
  recorder: ReleaseRecorder,
  gate: DemoGate,
  port: number,
  stops: (() => Promise<unknown>)[],
): Promise<string> {
  const handleRoutes = createRouteHandler(routes);
  const handlePage = createPageHandler(() => recorder.snapshot(Date.now()));
  const server = http.createServer((req, res) => {
    if (handleRoutes(req, res) || handlePage(req, res) || gate.handle(req, res)) return;
    const path = (req.url ?? '').split('?', 1)[0];
    if (path === '/livez' || path === '/readyz') return sendText(res, 200, 'ok\n');
    sendText(res, 404, 'not found\n');
  });
  const bound = await listen(server, port, '127.0.0.1');
  stops.push(() => closeServer(server));
  return `http://127.0.0.1:${bound}`;
}

/** Share of the ordinary load that carries the segment's headers when the release has a segment. */
const SEGMENT_SHARE = 0.5;

/** The request headers that an exact header or cookie match accepts. */
function segmentHeaders(match: HeaderMatch): Record<string, string> {
  if (match.cookie !== undefined) return { cookie: `${match.cookie}=${match.exact ?? ''}` };
  return { [match.header ?? '']: match.exact ?? '' };
}

function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 100;
}

function resultOf(status: ReleaseStatus): DemoResult['result'] {
  if (status.phase === 'Succeeded') return 'promoted';
  return status.phase === 'Failed' ? 'rolled-back' : 'unfinished';
}

function trafficOf(totals: LoadTotals) {
  const { requests, failures, canaryRequests, canaryFailures } = totals;
  return { requests, failures, canaryRequests, canaryFailures };
}

/** The copies the primaries' proxies sent the canary, as their metrics count them. */
async function mirroredRequests(cluster: LocalCluster): Promise<number> {
  let total = 0;
  for (const pod of cluster.primaries) {
    const metric = await pod.proxy.metrics.registry.getSingleMetric('sluice_proxy_requests_total')?.get();
    for (const value of metric?.values ?? [])
      if (value.labels['destination'] === 'mirror') total += value.value;
  }
  return total;
}

function describeScenario(scenario: Scenario): string {
  switch (scenario) {
    case 'good':
      return 'v2 is as healthy as v1: it should be promoted';
    case 'bad':
      return 'v2 fails 30% of its requests: it should be rolled back';
    case 'slow':
      return 'v2 answers 800 ms late: it should be rolled back';
  }
}
