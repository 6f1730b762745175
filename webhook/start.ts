import type { FSWatcher } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../src/log.js';
import { closeServer, listen } from '../src/server.js';
import type { AdmitConfig } from './admit.js';
import { nativeSidecarPolicy, type NativeSidecarMode, type ServerVersion } from './native-sidecar.js';
import { generateCertificates, readCertDir, watchCertDir, writeCertDir, type Certificates } from './certs.js';
import { createWebhookHandler, createWebhookServer } from './server.js';

export interface WebhookOptions {
  /** The admission config; its nativeSidecar policy comes from `nativeSidecar`. */
  config: Omit<AdmitConfig, 'nativeSidecar'>;
  /** `--native-sidecar`: `auto` asks the API server's version, except standalone. */
  nativeSidecar: NativeSidecarMode;
  logger: Logger;
  host: string;
  port: number;
  /** tls.crt/tls.key used as they are and re-read on change; in standalone mode also where generated ones go. */
  certDir: string | undefined;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  /** No cluster: certificates from --cert-dir or generated, nothing stored or patched. */
  standalone: boolean;
  namespace: string;
  certSecret: string;
  webhookConfiguration: string;
}

export interface RunningWebhook {
  port: number;
  /** The CA clients should trust; undefined when the certificates came from --cert-dir without a ca.crt. */
  ca: string | undefined;
  drain(): Promise<void>;
}

const TLS_MIN = 'TLSv1.2' as const;

/** `--native-sidecar auto` could not read the API server's version, so the webhook does not start. */
export class ServerVersionUnknownError extends Error {
  readonly code = 'ServerVersionUnknown';
  constructor(options: ErrorOptions) {
    super(
      "--native-sidecar is auto and the API server's version could not be read; the webhook does not start, so that its replicas never place the proxy differently. Give it access to the API server, or set --native-sidecar to true or false",
      options,
    );
    this.name = 'ServerVersionUnknownError';
  }
}

/** Loaded only in a cluster: the Kubernetes client is most of the process's heap (see below). */
async function askServerVersion(): Promise<ServerVersion> {
  const { defaultKubeConfig, readServerVersion } = await import('./cluster.js');
  try {
    return await readServerVersion(defaultKubeConfig());
  } catch (err) {
    throw new ServerVersionUnknownError({ cause: err });
  }
}

export async function startWebhook(options: WebhookOptions): Promise<RunningWebhook> {
  const { logger, certDir, standalone } = options;
  const serverVersion =
    options.nativeSidecar === 'auto' && !standalone ? await askServerVersion() : undefined;
  const nativeSidecar = nativeSidecarPolicy(options.nativeSidecar, serverVersion);
  logger.info(
    {
      mode: options.nativeSidecar,
      serverVersion: serverVersion?.gitVersion,
      byDefault: nativeSidecar.byDefault,
    },
    'nativeSidecarPlacement',
  );
  const stops: (() => void)[] = [];
  let certs: Certificates | undefined = certDir === undefined ? undefined : await readCertDir(certDir);
  const fromDir = certs !== undefined;
  if (certs === undefined && standalone) {
    certs = await generateCertificates(options);
    if (certDir !== undefined) await writeCertDir(certDir, certs);
    logger.info(
      { certDir, dnsNames: options.dnsNames, ipAddresses: options.ipAddresses },
      'certificatesGenerated',
    );
  } else if (certs === undefined) {
    // Loaded only in a cluster: the Kubernetes client is most of the process's heap, which a standalone
    // webhook would otherwise carry, and garbage-collect over, on every review.
    const { defaultKubeConfig, keepCaBundle, loadOrCreateClusterCertificates } = await import('./cluster.js');
    const kubeConfig = defaultKubeConfig();
    certs = await loadOrCreateClusterCertificates({
      ...options,
      kubeConfig,
      namespace: options.namespace,
      secretName: options.certSecret,
    });
    if (certs.ca !== undefined) {
      stops.push(keepCaBundle(kubeConfig, options.webhookConfiguration, certs.ca, logger));
    }
  }

  let ready = false;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const config: AdmitConfig = { ...options.config, nativeSidecar };
  const handler = createWebhookHandler({ config, logger, registry, isReady: () => ready });
  const server = createWebhookServer(handler, { credentials: { cert: certs.cert, key: certs.key } });

  let watcher: FSWatcher | undefined;
  if (fromDir && certDir !== undefined) {
    watcher = watchCertDir(
      certDir,
      (next) => {
        server.setSecureContext({ cert: next.cert, key: next.key, minVersion: TLS_MIN });
        logger.info({ certDir }, 'certificatesReloaded');
      },
      (err) => logger.warn({ err, certDir }, 'certificatesReloadFailed'),
    );
  }

  await listen(server, options.port, options.host);
  const port = (server.address() as AddressInfo).port;
  ready = true;
  logger.info({ port, host: options.host, standalone }, 'listening');
  return {
    port,
    ca: certs.ca,
    async drain() {
      ready = false;
      watcher?.close();
      for (const stop of stops) stop();
      await closeServer(server);
    },
  };
}
