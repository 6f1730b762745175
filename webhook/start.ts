import type { FSWatcher } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../src/log.js';
import { closeServer, listen } from '../src/server.js';
import type { AdmitConfig } from './admit.js';
import { generateCertificates, readCertDir, watchCertDir, writeCertDir, type Certificates } from './certs.js';
import { createWebhookHandler, createWebhookServer } from './server.js';

export interface WebhookOptions {
  config: AdmitConfig;
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

export async function startWebhook(options: WebhookOptions): Promise<RunningWebhook> {
  const { logger, certDir, standalone } = options;
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
  const handler = createWebhookHandler({ config: options.config, logger, registry, isReady: () => ready });
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
