import { startProxy, type RunningProxy } from '../../proxy/proxy.js';
import type { Logger } from '../log.js';
import { startSampleApp, type AppBehaviour, type SampleApp } from './app.js';

/**
 * The demo's stand-in for a cluster, all in this process on loopback: a Deployment's primary pods (each the
 * sample app behind a primary-role proxy that long-polls the route server) and, while a release runs, one
 * canary pod (the candidate app behind a canary-role proxy).
 */

export interface Pod {
  app: SampleApp;
  proxy: RunningProxy;
  /** The proxy's traffic port: what a Service would send to. */
  url: string;
  /** The proxy's admin port: /metrics for the direct provider. */
  adminUrl: string;
}

export interface LocalClusterOptions {
  namespace: string;
  deployment: string;
  replicas: number;
  stable: AppBehaviour;
  /** The route server the primary proxies long-poll. */
  controlUrl: string;
  logger: Logger;
}

const HOST = '127.0.0.1';

export class LocalCluster {
  readonly primaries: Pod[] = [];
  canary: Pod | null = null;

  private constructor(private readonly options: LocalClusterOptions) {}

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const cluster = new LocalCluster(options);
    try {
      for (let i = 0; i < options.replicas; i++) {
        cluster.primaries.push(await cluster.startPod(options.stable, 'primary'));
      }
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Starts the canary pod running `candidate`; a canary already running is replaced. */
  async createCanary(candidate: AppBehaviour): Promise<Pod> {
    await this.deleteCanary();
    this.canary = await this.startPod(candidate, 'canary');
    return this.canary;
  }

  async deleteCanary(): Promise<void> {
    const canary = this.canary;
    this.canary = null;
    if (canary !== null) await stopPod(canary);
  }

  /** Every primary serves `version`. */
  primariesServe(version: string): boolean {
    return this.primaries.every((pod) => pod.app.behaviour().version === version);
  }

  async stop(): Promise<void> {
    await this.deleteCanary();
    const pods = this.primaries.splice(0);
    await Promise.all(pods.map(stopPod));
  }

  private async startPod(behaviour: AppBehaviour, role: 'primary' | 'canary'): Promise<Pod> {
    const { namespace, deployment, controlUrl, logger } = this.options;
    const app = await startSampleApp(behaviour, { host: HOST });
    let proxy: RunningProxy;
    try {
      proxy = await startProxy({
        appPort: app.port,
        appHost: HOST,
        listenHost: HOST,
        listenPort: 0,
        adminPort: 0,
        // A canary proxy always forwards locally and needs no routes.
        controlUrl: role === 'primary' ? controlUrl : undefined,
        namespace,
        deployment: role === 'primary' ? deployment : `${deployment}-canary`,
        role,
        revision: behaviour.version,
        routeTtlMs: 5 * 60_000,
        upstreamTimeoutMs: 10_000,
        drainDelayMs: 0,
        logger: logger.child({ role, version: behaviour.version }),
      });
    } catch (err) {
      await app.close();
      throw err;
    }
    return {
      app,
      proxy,
      url: `http://${HOST}:${proxy.port}`,
      adminUrl: `http://${HOST}:${proxy.adminPort}`,
    };
  }
}

async function stopPod(pod: Pod): Promise<void> {
  await pod.proxy.drain();
  await pod.app.close();
}
