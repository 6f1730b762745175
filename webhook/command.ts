import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseSealKey } from '../src/candidate.js';
import { defineCommand } from '../src/command/command.js';
import { durationSchema, httpUrlSchema, listenPortSchema, nameSchema } from '../src/command/options.js';
import { createLogger } from '../src/log.js';
import { exitOnSignal } from '../src/server.js';
import { isIpAddress } from './certs.js';
import { NATIVE_SIDECAR_MODES } from './native-sidecar.js';
import { startWebhook } from './start.js';

const list = (item: z.ZodType<string, string>, what: string) =>
  z
    .string()
    .transform((text) =>
      text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .pipe(z.array(item, `expected ${what}, comma-separated`));

const dnsName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i, 'expected DNS names');
const ipAddress = z.string().refine(isIpAddress, 'expected IP addresses');

/** This package's version: what `sluice.dev/injected` records and the default proxy image's tag. */
function packageVersion(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'sluice' && pkg.version !== undefined) return pkg.version;
    } catch {
      // not this one: source and build sit at different depths
    }
  }
  return '0.0.0';
}

const VERSION = packageVersion();

/**
 * Node.js options the webhook's Deployment runs with (manifests/webhook.yaml), and the benchmark too: a
 * small young generation, since a webhook sees a few writes a minute and a larger one only holds garbage.
 */
export const WEBHOOK_NODE_OPTIONS = '--max-semi-space-size=4';

export const webhookCommand = defineCommand({
  summary:
    'The admission webhook: injects the proxy into opted-in Deployments and holds every change to them ' +
    '(and to tracked ConfigMaps and Secrets) as a canary candidate.',
  options: {
    port: {
      description: 'the HTTPS port of /mutate, /livez, /readyz, /metrics',
      schema: listenPortSchema,
      default: '8443',
    },
    host: { description: 'the address to listen on', schema: z.string().min(1), default: '0.0.0.0' },
    certDir: {
      description:
        'a directory with tls.crt and tls.key, used as they are and re-read when they change; with --standalone and no files there, generated ones (and ca.crt) are written to it',
      schema: z.string().min(1),
      optional: true,
    },
    dnsNames: {
      description: 'names the generated serving certificate is for',
      schema: list(dnsName, 'DNS names'),
      default: 'sluice-webhook.sluice-system.svc,sluice-webhook.sluice-system.svc.cluster.local,localhost',
    },
    ipAddresses: {
      description: 'addresses the generated serving certificate is for',
      schema: list(ipAddress, 'IP addresses'),
      default: '127.0.0.1',
    },
    standalone: {
      description: 'no cluster: nothing stored in a Secret, no caBundle patched',
      schema: z.boolean(),
      boolean: true,
    },
    namespace: {
      description: "the webhook's own namespace, where its certificate Secret lives",
      schema: nameSchema,
      default: 'sluice-system',
    },
    certSecret: {
      description: 'the Secret that keeps the generated CA and serving certificate',
      schema: nameSchema,
      default: 'sluice-webhook-certs',
    },
    webhookConfiguration: {
      description: 'the MutatingWebhookConfiguration whose caBundle is kept set to the CA',
      schema: nameSchema,
      default: 'sluice-webhook',
    },
    controllerIdentity: {
      description: 'the only user whose sluice.dev/promote is accepted',
      schema: z.string().min(1),
      default: 'system:serviceaccount:sluice-system:sluice-controller',
    },
    sealKeyFile: {
      description:
        'a file with the 32-byte key (raw, hex or base64) that seals held Secret data; unset: changes to tracked Secrets are denied',
      schema: z.string().min(1),
      optional: true,
    },
    proxyImage: {
      description: 'the image of the injected proxy container',
      schema: z.string().min(1),
      default: `sluice:${VERSION}`,
    },
    controlUrl: {
      description: "the controller's route server, given to every injected proxy",
      schema: httpUrlSchema,
      default: 'http://sluice-controller.sluice-system:8080',
    },
    nativeSidecar: {
      description:
        "inject the proxy as a native sidecar (an init container with restartPolicy Always) unless a Deployment's sluice.dev/native-sidecar says otherwise: true, false, or auto (when the API server is 1.29 or later, read at start; standalone: false)",
      schema: z.enum(NATIVE_SIDECAR_MODES),
      default: 'auto',
    },
    metricsProvider: {
      description:
        "where the controller reads the proxies' metrics, as its own --metrics-provider: with direct, objectives that name metric templates (PromQL) are denied",
      schema: z.enum(['direct', 'prometheus'], { error: 'expected direct or prometheus' }),
      default: 'direct',
    },
    shutdownGrace: {
      description: 'after SIGTERM, the most time to finish in-flight reviews before exiting',
      schema: durationSchema(),
      default: '20s',
    },
  },
  async run(options) {
    const logger = createLogger('webhook');
    const sealKey =
      options.sealKeyFile === undefined ? undefined : parseSealKey(await readFile(options.sealKeyFile));
    if (sealKey === undefined) logger.warn('noSealKeyChangesToTrackedSecretsDenied');
    const webhook = await startWebhook({
      ...options,
      logger,
      config: {
        controllerIdentity: options.controllerIdentity,
        proxy: { image: options.proxyImage, controlUrl: options.controlUrl, version: VERSION },
        sealKey,
        metricsProvider: options.metricsProvider,
      },
    });
    exitOnSignal({ logger, drain: () => webhook.drain(), graceMs: options.shutdownGrace });
    return new Promise<number>(() => undefined);
  },
});
