import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { readCanaryStatus } from '../../src/kube/canary-object.js';
import { initialStatus } from '../../src/release/status.js';
import { createAdminServer, listen } from '../../src/server.js';
import {
  asGrafanaSends,
  dashboardQueries,
  metricNames,
  monitoringDir,
  recordedNames,
} from '../support/monitoring.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { startReleaseRig, type ReleaseRig } from '../support/release.js';
import { closeAll } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

// The dashboard's queries on a real Prometheus that loaded manifests/monitoring/rules.yaml and scraped
// real proxies (a primary sending half its traffic to a canary) and the controller's metrics exporter with
// one release ended: each query is valid PromQL, and each metric it names has series.

let rig: ReleaseRig;
let controllerServer: http.Server;
let prometheus: RunningPrometheus;

interface QueryAnswer {
  status: string;
  error?: string;
  data?: { result: unknown[] };
}

async function query(promql: string): Promise<QueryAnswer> {
  const res = await request(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
  return (await res.body.json()) as QueryAnswer;
}

beforeAll(async () => {
  rig = await startReleaseRig({ primaries: 1, weight: 50, failEvery: 4, delayMs: 0 });
  const metrics = new ControllerMetrics();
  const at = Date.parse('2026-12-07T08:00:00Z');
  const status = { ...initialStatus(at), phase: 'Succeeded' as const, startedAt: '2026-12-07T08:00:00.000Z' };
  const before = readCanaryStatus(undefined, at);
  metrics.observe('shop', 'podinfo', before, { ...before, ...status }, at);
  metrics.observeStep(
    'shop',
    'podinfo',
    {
      status,
      actions: [{ type: 'event', kind: 'Normal', reason: 'Promoted', message: 'done' }],
      at: at + 60_000,
    },
    at,
  );
  metrics.countNotification('slack', 'sent');
  metrics.leader.set(1);
  controllerServer = createAdminServer({
    host: '127.0.0.1',
    port: 0,
    isReady: () => true,
    registry: metrics.registry,
  });
  const port = await listen(controllerServer, 0, '127.0.0.1');
  const targets = [...rig.metricsUrls().map((url) => new URL(url).host), `127.0.0.1:${port}`];
  prometheus = await startPrometheus(targets, { ruleFiles: [`${monitoringDir}rules.yaml`] });
  await rig.load(200);
  // The traffic recording rule evaluates every second: once it has a value, scrapes and rules are in.
  await eventually(
    'the proxies and the controller scraped, and the traffic rules recorded',
    async () =>
      (await prometheus.value('count(namespace_deployment_destination:sluice_proxy_requests:rate5m)')) ===
        2 && (await prometheus.value('sluice_controller_leader')) === 1,
    { timeoutMs: 60_000 },
  );
});

afterAll(async () => {
  await prometheus?.stop();
  await rig?.close();
  if (controllerServer !== undefined) await closeAll(controllerServer);
});

describe('the dashboard on a real Prometheus', () => {
  it('sends only queries Prometheus accepts', async () => {
    const refused: string[] = [];
    for (const { where, expr } of dashboardQueries()) {
      const answer = await query(asGrafanaSends(expr));
      if (answer.status !== 'success') refused.push(`${where}: ${answer.error ?? answer.status}`);
    }
    expect(refused).toEqual([]);
  });

  it('names metrics that the scraped proxies and controller have series of', async () => {
    const recorded = new Set(recordedNames());
    const names = new Set(dashboardQueries().flatMap(({ expr }) => metricNames(expr)));
    const missing: string[] = [];
    for (const name of names) {
      if (recorded.has(name)) continue;
      const answer = await query(`count({__name__="${name}"})`);
      if ((answer.data?.result.length ?? 0) === 0) missing.push(name);
    }
    expect(missing).toEqual([]);
  });

  it('shows the canary and the primary side by side', async () => {
    const requests = dashboardQueries().find(({ where }) => where === 'panel "Requests by destination"');
    const answer = await query(asGrafanaSends(requests?.expr ?? ''));
    const destinations = (answer.data?.result as { metric: { destination: string } }[]).map(
      (r) => r.metric.destination,
    );
    expect(destinations.sort()).toEqual(['canary', 'local']);
  });
});
