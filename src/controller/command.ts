import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { LABELS } from '../annotations.js';
import { parseSealKey } from '../candidate.js';
import { defineCommand } from '../command/command.js';
import { durationSchema, httpUrlSchema, listenPortSchema, nameSchema } from '../command/options.js';
import { proxyMetricsUrl } from '../injection/read.js';
import type { DeploymentObject } from '../kube/objects.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { apiPath, KubeRest, loadKubeConfig, type KubeObject } from '../kube/rest.js';
import { createLogger, type Logger } from '../log.js';
import { createMetricsProvider } from '../metrics/index.js';
import { Notifier } from '../notify/notifier.js';
import { SecretReceivers } from '../notify/secret-receivers.js';
import { createRouteHandler, RouteStore } from '../routes/server.js';
import { closeServer, createAdminHandler, exitOnSignal, listen } from '../server.js';
import { Controller } from './controller.js';
import { boardOf, dashboardAddressSchema, DashboardListenError, startDashboard } from './dashboard.js';
import { LeaderElector } from './leader.js';
import { ControllerMetrics } from './metrics.js';

interface PodObject extends KubeObject {
  status?: { phase?: string; podIP?: string };
}

const canaryUrlTemplate = z
  .string()
  .refine(
    (s) => URL.canParse(s.replaceAll(/\{(name|namespace|port)\}/g, 'x').replace(':x', ':1')),
    'expected an http:// URL, with {name}, {namespace} and {port} where they go',
  );

/**
 * The controller's API clients: one for the releases, and one of its own for the Lease. Each holds at most 16
 * connections; with hundreds of releases every one of them can be busy for seconds, and a renewal queued
 * behind them arrives after the lease duration: the leader then stops acting (its own clock says the Lease
 * may be another's) though no one else leads.
 */
export function controllerClients(kubeConfig: KubeConfig): { rest: KubeRest; leaseRest: KubeRest } {
  return { rest: new KubeRest(kubeConfig), leaseRest: new KubeRest(kubeConfig) };
}

function startNotifier(
  options: { namespace: string; notificationsSecret: string | undefined; notificationTimeout: number },
  rest: KubeRest,
  logger: Logger,
  metrics: ControllerMetrics,
): Notifier | undefined {
  if (options.notificationsSecret === undefined) return undefined;
  const receivers = new SecretReceivers({
    rest,
    namespace: options.namespace,
    name: options.notificationsSecret,
    logger,
  });
  void receivers.refresh();
  return new Notifier({
    receivers: () => receivers.current(),
    logger,
    timeoutMs: options.notificationTimeout,
    onResult: (receiver, result) => metrics.countNotification(receiver.name, result),
  });
}

export const controllerCommand = defineCommand({
  summary:
    'Watches opted-in Deployments, runs their canary releases (analysis, weight steps, promotion, rollback) ' +
    'and serves the route tables the proxies long-poll. Run two replicas: one leads (Lease), all serve routes.',
  options: {
    port: {
      description: 'the HTTP port of the route server (/v1/routes/…), /livez, /readyz and /metrics',
      schema: listenPortSchema,
      default: '8080',
    },
    host: { description: 'the address to listen on', schema: z.string().min(1), default: '0.0.0.0' },
    kubeconfig: {
      description: 'a kubeconfig file; unset: $KUBECONFIG, ~/.kube/config, or the in-cluster service account',
      schema: z.string().min(1),
      optional: true,
    },
    namespace: {
      description: "the controller's own namespace, where its Lease lives",
      schema: nameSchema,
      default: 'sluice-system',
    },
    watchNamespace: {
      description: 'act on Deployments in this namespace only; unset: every namespace',
      schema: nameSchema,
      optional: true,
    },
    identity: {
      description: "this replica's name in the Lease (the pod name in a cluster)",
      schema: z.string().min(1),
      default: hostname(),
    },
    leaseName: {
      description: 'the Lease the replicas elect a leader with',
      schema: nameSchema,
      default: 'sluice-controller',
    },
    leaseDuration: {
      description:
        'how long a leader that stopped renewing keeps the Lease before another replica takes over',
      schema: durationSchema(1_000),
      default: '15s',
    },
    metricsProvider: {
      description: "where analysis reads the proxies' metrics: direct (scrapes the proxies) or prometheus",
      schema: z.enum(['direct', 'prometheus'], { error: 'expected direct or prometheus' }),
      default: 'direct',
    },
    prometheusUrl: {
      description: 'the Prometheus that scrapes the proxies (with --metrics-provider prometheus)',
      schema: httpUrlSchema,
      optional: true,
    },
    sealKeyFile: {
      description:
        "the webhook's 32-byte seal key (raw, hex or base64), to unseal held Secret data for the canary's copy",
      schema: z.string().min(1),
      optional: true,
    },
    canaryUrlTemplate: {
      description: "the URL the primaries' proxies reach the canary Service at",
      schema: canaryUrlTemplate,
      default: 'http://{name}-canary.{namespace}:{port}',
    },
    notificationsSecret: {
      description:
        'a Secret in --namespace whose keys (slack, teams, json, each optionally -name) hold chat webhook URLs to post release events to; unset: no notifications',
      schema: nameSchema,
      optional: true,
    },
    notificationTimeout: {
      description: 'the most one post to a notification receiver may take',
      schema: durationSchema(100),
      default: '5s',
    },
    tick: {
      description: 'how often each release is looked at between watch events',
      schema: durationSchema(100),
      default: '1s',
    },
    dashboardAddress: {
      description:
        'where to serve the read-only live page of every release (reach it with kubectl port-forward); ' +
        'host:port, :port for every interface, or off',
      schema: dashboardAddressSchema,
      default: '127.0.0.1:8090',
    },
    shutdownGrace: {
      description: 'after SIGTERM, the most time to finish the steps under way before exiting',
      schema: durationSchema(),
      default: '20s',
    },
  },
  async run(options) {
    const logger = createLogger('controller');
    if (options.metricsProvider === 'prometheus' && options.prometheusUrl === undefined) {
      console.error(
        'sluice controller: --metrics-provider prometheus needs --prometheus-url (or SLUICE_PROMETHEUS_URL)',
      );
      return 2;
    }
    const sealKey =
      options.sealKeyFile === undefined ? undefined : parseSealKey(await readFile(options.sealKeyFile));
    if (sealKey === undefined) logger.warn('noSealKeyHeldSecretsCannotBeCanaried');
    const { rest, leaseRest } = controllerClients(loadKubeConfig(options.kubeconfig));
    const routes = new RouteStore();
    const metrics = new ControllerMetrics();
    // The direct provider finds the pods through the controller's Deployment cache, made just below.
    const caches: { deployments?: Controller['deployments'] } = {};
    const provider =
      options.metricsProvider === 'prometheus'
        ? createMetricsProvider({ kind: 'prometheus', url: options.prometheusUrl ?? '' })
        : createMetricsProvider({
            kind: 'direct',
            // The primaries' proxies, each at its pod's IP: they measure the canary as destination="canary".
            discover: async (target) => {
              const deployment = caches.deployments?.get(target.deployment, target.namespace) as
                DeploymentObject | undefined;
              const labels = { ...deployment?.spec?.selector?.matchLabels, [LABELS.role]: 'primary' };
              const selector = Object.entries(labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(',');
              const pods = await rest.list<PodObject>(apiPath('v1', 'pods', target.namespace), selector);
              return pods.items
                .filter((p) => p.status?.phase === 'Running' && p.status.podIP !== undefined)
                .map((p) => proxyMetricsUrl(p.status?.podIP ?? ''));
            },
          });
    const notifier = startNotifier(options, rest, logger, metrics);
    const controller = new Controller({
      rest,
      watchNamespace: options.watchNamespace,
      routes,
      provider,
      sealKey,
      canaryUrlTemplate: options.canaryUrlTemplate,
      identity: options.identity,
      logger,
      metrics,
      ...(notifier === undefined ? {} : { notify: (notice) => notifier.notify(notice) }),
      tickMs: options.tick,
      holdsLease: () => elector.isLeader,
    });
    caches.deployments = controller.deployments;
    const board = boardOf(controller);
    const started = controller;
    const elector = new LeaderElector({
      rest: leaseRest,
      namespace: options.namespace,
      name: options.leaseName,
      identity: options.identity,
      leaseDurationMs: options.leaseDuration,
      logger,
      onChange: (leading) => started.setLeading(leading),
    });

    let draining = false;
    const handleRoutes = createRouteHandler(routes);
    const admin = createAdminHandler({
      isReady: () => !draining && started.isReady,
      registry: metrics.registry,
    });
    const server = http.createServer((req, res) => {
      if (!handleRoutes(req, res)) admin(req, res);
    });
    const port = await listen(server, options.port, options.host);
    const replica = () => ({ identity: options.identity, leading: started.isLeader });
    let dashboard;
    try {
      dashboard =
        options.dashboardAddress === null
          ? null
          : await startDashboard(board, options.dashboardAddress, replica);
    } catch (err) {
      if (!(err instanceof DashboardListenError)) throw err;
      console.error(`sluice controller: ${err.message}`);
      await closeServer(server);
      return 1;
    }
    await controller.start();
    elector.start();
    logger.info(
      {
        port,
        dashboardPort: dashboard?.port ?? null,
        identity: options.identity,
        watchNamespace: options.watchNamespace ?? null,
        provider: provider.name,
      },
      'controllerStarted',
    );

    exitOnSignal({
      logger,
      graceMs: options.shutdownGrace,
      drain: async () => {
        draining = true;
        // Finish the steps under way before giving up the Lease, so that no two replicas ever step at once.
        await started.stop();
        await elector.stop();
        // The last steps' notices, as far as the receivers answer in time.
        await Promise.race([notifier?.idle(), sleep(options.notificationTimeout)]);
        // Held long-polls end now; the proxies ask another replica, and keep their table meanwhile.
        const closed = closeServer(server);
        server.closeAllConnections();
        await closed;
        await dashboard?.close();
        rest.close();
        leaseRest.close();
      },
    });
    return new Promise<number>(() => undefined);
  },
});
