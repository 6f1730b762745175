import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
} from '@kubernetes/client-node';
import type { Logger } from '../src/log.js';
import type { ServerVersion } from './native-sidecar.js';
import {
  CA_FILE,
  CERT_FILE,
  generateCertificates,
  KEY_FILE,
  type Certificates,
  type GenerateOptions,
} from './certs.js';

/**
 * The webhook's in-cluster start (DESIGN.md, "Held changes"): its CA and serving cert are kept in a Secret,
 * so that both replicas and every restart serve the same one, and the CA is patched into the
 * MutatingWebhookConfiguration's caBundle. These are start-up and background calls; admission itself
 * makes none.
 */

export interface ClusterCertOptions extends GenerateOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  secretName: string;
  logger: Logger;
}

const statusOf = (err: unknown): number | undefined => (err instanceof ApiException ? err.code : undefined);
const fromBase64 = (value: string | undefined): string | undefined =>
  value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');

export function defaultKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}

/** The certificates in the Secret; when there is none, new ones, stored there. Two replicas may race: the loser reads the winner's. */
export async function loadOrCreateClusterCertificates(options: ClusterCertOptions): Promise<Certificates> {
  const { kubeConfig, namespace, secretName: name, logger } = options;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const read = async (): Promise<Certificates | undefined> => {
    try {
      const secret = await core.readNamespacedSecret({ name, namespace });
      const cert = fromBase64(secret.data?.[CERT_FILE]);
      const key = fromBase64(secret.data?.[KEY_FILE]);
      return cert === undefined || key === undefined
        ? undefined
        : { ca: fromBase64(secret.data?.[CA_FILE]), cert, key };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  };
  const existing = await read();
  if (existing !== undefined) return existing;
  const certs = await generateCertificates(options);
  const data: Record<string, string> = {
    [CERT_FILE]: Buffer.from(certs.cert).toString('base64'),
    [KEY_FILE]: Buffer.from(certs.key).toString('base64'),
  };
  if (certs.ca !== undefined) data[CA_FILE] = Buffer.from(certs.ca).toString('base64');
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'sluice' } },
        type: 'kubernetes.io/tls',
        data,
      },
    });
    logger.info({ namespace, secret: name }, 'certificatesCreated');
    return certs;
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    const winner = await read();
    if (winner === undefined) throw err;
    return winner;
  }
}

/** Sets caBundle on every webhook of the configuration that lacks it or has another; true when it patched. */
export async function ensureCaBundle(kubeConfig: KubeConfig, name: string, caPem: string): Promise<boolean> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const configuration = await api.readMutatingWebhookConfiguration({ name });
  const want = Buffer.from(caPem).toString('base64');
  const patch = (configuration.webhooks ?? []).flatMap((webhook, i) =>
    webhook.clientConfig.caBundle === want
      ? []
      : [{ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want }],
  );
  if (patch.length === 0) return false;
  // The test on resourceVersion makes a concurrent edit of the list fail instead of patching the wrong entry.
  const guarded = [
    { op: 'test', path: '/metadata/resourceVersion', value: configuration.metadata?.resourceVersion },
    ...patch,
  ];
  await api.patchMutatingWebhookConfiguration(
    { name, body: guarded },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
  return true;
}

/** Keeps the caBundle right: at once, then every interval, since a re-applied manifest can blank it. */
export function keepCaBundle(
  kubeConfig: KubeConfig,
  name: string,
  caPem: string,
  logger: Logger,
  intervalMs = 60_000,
): () => void {
  const check = (): void => {
    ensureCaBundle(kubeConfig, name, caPem).then(
      (patched) => {
        if (patched) logger.info({ webhookConfiguration: name }, 'caBundlePatched');
      },
      (err: unknown) => logger.warn({ err, webhookConfiguration: name }, 'caBundlePatchFailed'),
    );
  };
  check();
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The API server's `/version`, which every authenticated client may read. */
export async function readServerVersion(kubeConfig: KubeConfig): Promise<ServerVersion> {
  const info = await kubeConfig.makeApiClient(VersionApi).getCode();
  return { major: info.major, minor: info.minor, gitVersion: info.gitVersion };
}
