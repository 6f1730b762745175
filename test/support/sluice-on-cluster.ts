import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startSampleApp, type AppBehaviour, type SampleApp } from '../../src/demo/app.js';
import { startLoad, type LoadGenerator } from '../../src/demo/load.js';
import type { Cluster } from './kube.js';
import {
  runProxyProcess,
  runSluice,
  SLUICE_BIN,
  type SluiceProcess,
  freePort,
  run,
  type RunResult,
} from './processes.js';
import { startPrometheus, type RunningPrometheus } from './prometheus.js';
import { startGrpcApp, startGrpcLoad } from './grpc.js';

/**
 * sluice on the test control plane: its CRD and RBAC applied from manifests/, the webhook as a local
 * process registered through a real MutatingWebhookConfiguration, and, per scenario, the controller as a
 * local process under its ServiceAccount's identity, with a data path of local processes (the sample app
 * v1 behind a real `sluice proxy`, v2 as the canary, a real Prometheus scraping the proxy) and load.
 */

export const CONTROLLER_IDENTITY = 'system:serviceaccount:sluice-system:sluice-controller';
const MANIFESTS = new URL('../../manifests/', import.meta.url);

export interface Installed {
  /** `kubectl sluice …` as a user runs it: kubectl finds the plugin on PATH. */
  kubectlSluice(args: readonly string[]): Promise<RunResult>;
  sealKeyFile: string;
  /** The webhook process running now (a new one after `startWebhook`). */
  readonly webhook: SluiceProcess;
  /** Stops the webhook (SIGTERM): the apiserver's calls to it fail until `startWebhook`. */
  stopWebhook(): Promise<void>;
  /** Starts the webhook again on the same port with the same certs, once `stopWebhook` stopped it. */
  startWebhook(): Promise<void>;
  /** SLUICE_LOG_LEVEL of the webhook and of the controllers started for it. */
  logLevel: string;
  controllerKubeconfig: string;
  dir: string;
  /** Applies the MutatingWebhookConfiguration again, after a test removed it. */
  registerWebhook(): Promise<void>;
  uninstall(): Promise<void>;
}

export interface InstallOptions {
  /**
   * The webhook as in a cluster rather than `--standalone`: it reads the API server's version at start,
   * so `--native-sidecar auto` decides from it. Its certificates still come from a directory.
   */
  webhookAsksCluster?: boolean;
  /** The webhook's and its controllers' SLUICE_LOG_LEVEL [info]. */
  logLevel?: string;
}

/** Applies what sluice needs from manifests/ and starts and registers the webhook. */
export async function installSluice(cluster: Cluster, options: InstallOptions = {}): Promise<Installed> {
  const logLevel = options.logLevel ?? 'info';
  const dir = await mkdtemp(join(tmpdir(), 'sluice-e2e-'));
  for (const file of ['namespace.yaml', 'crd.yaml', 'rbac.yaml']) {
    await cluster.kubectl(['apply', '-n', 'sluice-system', '-f', new URL(file, MANIFESTS).pathname]);
  }
  await cluster.kubectl(['wait', '--for=condition=Established', 'crd/canaries.sluice.dev', '--timeout=30s']);
  const sealKeyFile = join(dir, 'seal-key');
  await writeFile(sealKeyFile, randomBytes(32).toString('hex'));

  const { cert, key } = await cluster.issueCertificate('sluice-webhook', ['127.0.0.1']);
  const certDir = join(dir, 'webhook-certs');
  await mkdir(certDir);
  await writeFile(join(certDir, 'tls.crt'), cert);
  await writeFile(join(certDir, 'tls.key'), key);
  const port = await freePort();
  const asksCluster = options.webhookAsksCluster === true;
  const runWebhook = (): SluiceProcess =>
    runSluice(
      [
        'webhook',
        ...(asksCluster ? [] : ['--standalone']),
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--cert-dir',
        certDir,
        '--seal-key-file',
        sealKeyFile,
        '--controller-identity',
        CONTROLLER_IDENTITY,
        // As the controllers started here (startController): metric templates are admitted.
        '--metrics-provider',
        'prometheus',
      ],
      { SLUICE_LOG_LEVEL: logLevel, ...(asksCluster ? { KUBECONFIG: cluster.kubeconfigPath } : {}) },
    );
  let webhook = runWebhook();
  await webhook.waitForLog('listening', 20_000);
  const registerWebhook = async (): Promise<void> => {
    await cluster.apply(
      await webhookConfiguration(cluster.webhookClientConfig(`https://127.0.0.1:${port}/mutate`)),
    );
  };
  await registerWebhook();

  const controllerKubeconfig = await cluster.serviceAccountKubeconfig('sluice-system', 'sluice-controller');
  const pluginDir = join(dir, 'bin');
  await mkdir(pluginDir);
  await symlink(SLUICE_BIN, join(pluginDir, 'kubectl-sluice'));
  return {
    kubectlSluice: (args) =>
      run(cluster.kubectlPath, ['sluice', ...args], {
        env: {
          KUBECONFIG: cluster.kubeconfigPath,
          PATH: [pluginDir, dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter),
        },
      }),
    sealKeyFile,
    get webhook() {
      return webhook;
    },
    async stopWebhook() {
      await webhook.stop();
    },
    async startWebhook() {
      webhook = runWebhook();
      await webhook.waitForLog('listening', 20_000);
    },
    logLevel,
    controllerKubeconfig,
    dir,
    registerWebhook,
    async uninstall() {
      await webhook.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The MutatingWebhookConfiguration of manifests/, pointed at the webhook on 127.0.0.1 instead of its Service. */
async function webhookConfiguration(clientConfig: { url: string; caBundle: string }): Promise<object> {
  const text = await readFile(new URL('mutatingwebhook.yaml', MANIFESTS), 'utf8');
  const configuration = parseAllDocuments(text)
    .map((d) => d.toJS() as { kind?: string; webhooks?: { clientConfig: unknown }[] })
    .find((d) => d.kind === 'MutatingWebhookConfiguration');
  if (configuration === undefined)
    throw new Error('manifests/mutatingwebhook.yaml has no MutatingWebhookConfiguration');
  for (const webhook of configuration.webhooks ?? []) webhook.clientConfig = clientConfig;
  return configuration;
}

export interface DataPath {
  v1: Pick<SampleApp, 'url' | 'close'>;
  v2: Pick<SampleApp, 'url' | 'close'>;
  proxy: SluiceProcess & { port: number; adminPort: number };
  prometheus: RunningPrometheus;
  controllerPort: number;
  load: LoadGenerator;
  stop(): Promise<void>;
}

/**
 * One primary pod's data path as local processes: app v1 behind `sluice proxy`, which long-polls the
 * controller at `controllerPort`; app v2 where the canary Service would be; Prometheus scraping the proxy;
 * and steady load, some of it with `traffic: test`.
 */
export async function startDataPath(
  namespace: string,
  deployment: string,
  canary: Omit<AppBehaviour, 'version'>,
  protocol: 'http' | 'grpc' = 'http',
): Promise<DataPath> {
  const grpcApp = async (name: string, errorRate: number) => {
    const app = await startGrpcApp(name, { errorRate });
    return { port: app.port, url: `http://127.0.0.1:${app.port}`, close: () => app.close() };
  };
  const v1 =
    protocol === 'grpc'
      ? await grpcApp('v1', 0)
      : await startSampleApp({ version: 'v1', errorRate: 0, latencyMs: 0 }, { host: '127.0.0.1' });
  const v2 =
    protocol === 'grpc'
      ? await grpcApp('v2', canary.errorRate)
      : await startSampleApp({ version: 'v2', ...canary }, { host: '127.0.0.1' });
  const controllerPort = await freePort();
  const proxy = await runProxyProcess([
    '--app-protocol',
    protocol,
    '--app-port',
    String(v1.port),
    '--control-url',
    `http://127.0.0.1:${controllerPort}`,
    '--namespace',
    namespace,
    '--deployment',
    deployment,
    '--revision',
    'v1',
  ]);
  const prometheus = await startPrometheus([`127.0.0.1:${proxy.adminPort}`]).catch(async (err: unknown) => {
    // What started before the failure is stopped here: no caller holds it yet.
    await proxy.stop();
    await v1.close();
    await v2.close();
    throw err;
  });
  const load =
    protocol === 'grpc'
      ? startGrpcLoad(proxy.port, { rate: 40, testRate: 4, maxDurationMs: 400_000 })
      : startLoad({
          targets: [`http://127.0.0.1:${proxy.port}`],
          rate: 40,
          testRate: 4,
          testHeader: { name: 'traffic', value: 'test' },
          maxRequests: 200_000,
          maxDurationMs: 400_000,
        });
  return {
    v1,
    v2,
    proxy,
    prometheus,
    controllerPort,
    load,
    async stop() {
      await load.stop();
      await proxy.stop();
      await prometheus.stop();
      await v1.close();
      await v2.close();
    },
  };
}

export interface ControllerRun extends SluiceProcess {
  port: number;
  /** Where its dashboard answers (`--dashboard-address 127.0.0.1:0`: a free port each). */
  dashboardUrl: string;
}

/** What a controller is pointed at: where it serves routes, where it reads metrics, where canaries answer. */
export interface ControllerWiring {
  /** The route server's port, which the proxies long-poll. */
  controllerPort: number;
  prometheusUrl: string;
  /** `--canary-url-template`: the canary Service's URL, or one fixed URL on loopback. */
  canaryUrlTemplate: string;
}

/** A data path's controller: its proxy polls `controllerPort`, its Prometheus scrapes it, v2 is the canary. */
export const wiringOf = (data: DataPath): ControllerWiring => ({
  controllerPort: data.controllerPort,
  prometheusUrl: data.prometheus.url,
  canaryUrlTemplate: data.v2.url,
});

export interface ControllerOptions {
  /** Its name in the Lease [controller-<random>]. */
  identity?: string;
  /** Its route server's port [the wiring's controllerPort]. */
  port?: number;
  /** `--tick` [500ms, so that tests wait less]. */
  tick?: string;
  /** `--lease-duration` [3s, so that a test's takeover is quick]. */
  leaseDuration?: string;
  /** Flags for node, before the script: `--cpu-prof` to profile it. */
  nodeArgs?: readonly string[];
  /** More flags for `sluice controller`. */
  args?: readonly string[];
}

/** `sluice controller` as a local process, as the sluice-controller ServiceAccount, for one namespace. */
export async function startController(
  installed: Installed,
  namespace: string,
  wiring: ControllerWiring,
  options: ControllerOptions = {},
): Promise<ControllerRun> {
  const port = options.port ?? wiring.controllerPort;
  const controller = runSluice(
    [
      'controller',
      '--kubeconfig',
      installed.controllerKubeconfig,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--watch-namespace',
      namespace,
      '--identity',
      options.identity ?? `controller-${randomBytes(3).toString('hex')}`,
      '--lease-name',
      `sluice-${namespace}`,
      '--lease-duration',
      options.leaseDuration ?? '3s',
      '--tick',
      options.tick ?? '500ms',
      '--metrics-provider',
      'prometheus',
      '--prometheus-url',
      wiring.prometheusUrl,
      '--seal-key-file',
      installed.sealKeyFile,
      '--canary-url-template',
      wiring.canaryUrlTemplate,
      ...(options.args ?? []),
      // Port 0: replicas and restarts on one machine would collide on the default 8090.
      '--dashboard-address',
      '127.0.0.1:0',
    ],
    { SLUICE_LOG_LEVEL: installed.logLevel },
    options.nodeArgs,
  );
  const started = await controller.waitForLog('controllerStarted', 20_000);
  return Object.assign(controller, {
    port,
    dashboardUrl: `http://127.0.0.1:${String(started['dashboardPort'])}`,
  });
}
