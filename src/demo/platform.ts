import http from 'node:http';
import { request } from 'undici';
import type { Logger } from '../log.js';
import { startProxy, type RunningProxy } from '../../proxy/proxy.js';
import type { Platform } from '../release/driver.js';
import type { Observations, ReleaseAction } from '../release/status.js';
import { RouteStore, createRouteHandler } from '../routes/server.js';
import { listen } from '../server.js';
import { startSampleApp, type AppBehaviour, type SampleApp } from './app.js';

export const DEMO_NAMESPACE = 'demo';
export const DEMO_DEPLOYMENT = 'podinfo';

interface Pod {
  app: SampleApp;
  proxy: RunningProxy;
}

/**
 * The demo's stand-in for Kubernetes: primary "pods" (a sample app behind a primary proxy each), a canary
 * pod started on createCanary, the controller's route server, and a Deployment that is only two revisions
 * in memory. Promotion rolls the primaries to the candidate one pod at a time.
 */
export class LocalPlatform implements Platform {
  readonly primaries: Pod[] = [];
  private canary: Pod | null = null;
  private stableRevision: string;
  private candidateRevision: string | null;
  private primaryReady = true;
  private readonly store = new RouteStore();
  private readonly routeServer = http.createServer();
  private controlUrl = '';

  private constructor(
    private readonly stable: AppBehaviour,
    private readonly candidate: AppBehaviour,
    private readonly logger: Logger,
    private readonly onEvent: (kind: string, reason: string, message: string) => void,
    private readonly rolloutStepMs: number,
  ) {
    this.stableRevision = stable.version;
    this.candidateRevision = candidate.version;
  }

  static async start(options: {
    stable: AppBehaviour;
    candidate: AppBehaviour;
    primaries: number;
    logger: Logger;
    onEvent: (kind: string, reason: string, message: string) => void;
    rolloutStepMs?: number;
  }): Promise<LocalPlatform> {
    const platform = new LocalPlatform(
      options.stable,
      options.candidate,
      options.logger,
      options.onEvent,
      options.rolloutStepMs ?? 500,
    );
    const handle = createRouteHandler(platform.store);
    platform.routeServer.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!handle(req, res)) {
        res.writeHead(404);
        res.end();
      }
    });
    const port = await listen(platform.routeServer, 0, '127.0.0.1');
    platform.controlUrl = `http://127.0.0.1:${port}`;
    for (let i = 0; i < options.primaries; i++) {
      platform.primaries.push(await platform.startPod(options.stable, 'primary'));
    }
    return platform;
  }

  /** The ports clients send to: the primaries' proxies, as a Service would. */
  servicePorts(): number[] {
    return this.primaries.map((pod) => pod.proxy.port);
  }

  metricsUrls(): string[] {
    const pods = this.canary === null ? this.primaries : [...this.primaries, this.canary];
    return pods.map((pod) => `http://127.0.0.1:${pod.proxy.adminPort}/metrics`);
  }

  observe(): Promise<Omit<Observations, 'measurement'>> {
    return Promise.resolve({
      stableRevision: this.stableRevision,
      candidateRevision: this.candidateRevision,
      canaryReady: this.canary !== null,
      primaryReady: this.primaryReady,
      action: null,
    });
  }

  async carryOut(action: ReleaseAction): Promise<void> {
    switch (action.type) {
      case 'createCanary':
        if (this.canary === null) {
          const pod = await this.startPod(this.candidate, 'canary');
          await readinessProbe(pod.proxy.port);
          this.canary = pod;
        }
        return;
      case 'setRoute': {
        const route = action.route;
        const url = this.canary === null ? null : `http://127.0.0.1:${this.canary.proxy.port}`;
        this.store.set(
          DEMO_NAMESPACE,
          DEMO_DEPLOYMENT,
          route === null || url === null
            ? null
            : {
                url,
                weight: route.weight,
                match: [...route.match],
                segment: [...route.segment],
                sticky: route.sticky,
              },
        );
        return;
      }
      case 'promote':
        this.candidateRevision = null;
        this.primaryReady = false;
        void this.rollOut(this.candidate);
        return;
      case 'deleteCanary': {
        const canary = this.canary;
        this.canary = null;
        if (canary !== null) await stopPod(canary);
        return;
      }
      case 'event':
        this.onEvent(action.kind, action.reason, action.message);
        return;
      case 'markFailed':
      case 'clearAction':
        return;
    }
  }

  async close(): Promise<void> {
    const pods = this.canary === null ? this.primaries : [...this.primaries, this.canary];
    await Promise.all(pods.map(stopPod));
    await new Promise<void>((resolve) => {
      this.routeServer.close(() => resolve());
      this.routeServer.closeAllConnections();
    });
  }

  /** The primaries take the promoted version one by one, as a rolling update would. */
  private async rollOut(behaviour: AppBehaviour): Promise<void> {
    for (const pod of this.primaries) {
      await new Promise((r) => setTimeout(r, this.rolloutStepMs));
      pod.app.behaviour = behaviour;
    }
    this.stableRevision = behaviour.version;
    this.primaryReady = true;
  }

  private async startPod(behaviour: AppBehaviour, role: 'primary' | 'canary'): Promise<Pod> {
    const app = await startSampleApp(behaviour);
    const proxy = await startProxy({
      appPort: app.port,
      appHost: '127.0.0.1',
      listenHost: '127.0.0.1',
      listenPort: 0,
      adminPort: 0,
      controlUrl: role === 'primary' ? this.controlUrl : undefined,
      namespace: DEMO_NAMESPACE,
      deployment: DEMO_DEPLOYMENT,
      role,
      revision: behaviour.version,
      routeTtlMs: 60_000,
      upstreamTimeoutMs: 10_000,
      drainDelayMs: 0,
      logger: this.logger,
    });
    return { app, proxy };
  }
}

/** As a kubelet would before the pod is ready; it also warms up the new pod's code paths. */
async function readinessProbe(port: number): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const res = await request(`http://127.0.0.1:${port}/`);
    await res.body.dump();
  }
}

async function stopPod(pod: Pod): Promise<void> {
  await pod.proxy.drain();
  await pod.app.close();
}
