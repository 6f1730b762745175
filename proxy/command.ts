import { z } from 'zod';
import { defineCommand } from '../src/command/command.js';
import {
  durationSchema,
  httpUrlSchema,
  listenPortSchema,
  nameSchema,
  portSchema,
} from '../src/command/options.js';
import { createLogger } from '../src/log.js';
import { PROXY_ROLES } from '../src/proxy-env.js';
import { exitOnSignal } from '../src/server.js';
import { startProxy } from './proxy.js';

/**
 * The options injection sets through the env (`src/proxy-env.ts`) are declared here under the names it
 * keys them by; `test/proxy/env.test.ts` parses an injected container's env with these specs.
 */
export const proxyCommand = defineCommand({
  summary:
    'The sidecar: takes over the app port, sends each request to the local app or the canary by header ' +
    'match and weight, and exports metrics on the admin port.',
  options: {
    appPort: { description: 'the app container port to forward to, on 127.0.0.1', schema: portSchema },
    appProtocol: {
      description:
        'what the app and the canary speak: http (HTTP/1.1), h2c or grpc (HTTP/2 over cleartext); ' +
        'clients may use HTTP/1.1 or HTTP/2 whatever it is',
      schema: z.enum(['http', 'h2c', 'grpc']),
      default: 'http',
    },
    listenPort: { description: 'the port to take traffic on', schema: listenPortSchema, default: '15080' },
    adminPort: {
      description: 'the port of /metrics, /livez, /readyz, /routes',
      schema: listenPortSchema,
      default: '15090',
    },
    listenHost: { description: 'the address to listen on', schema: z.string().min(1), default: '0.0.0.0' },
    controlUrl: {
      description: "the controller's route server; unset: all traffic stays local",
      schema: httpUrlSchema,
      optional: true,
    },
    namespace: { description: 'the namespace of the Deployment', schema: nameSchema, default: 'default' },
    deployment: { description: 'the Deployment this proxy serves', schema: nameSchema, default: 'unknown' },
    role: {
      description: 'primary, or canary (a canary proxy always forwards locally)',
      schema: z.enum(PROXY_ROLES),
      default: 'primary',
    },
    revision: {
      description: 'the revision of this pod, as a metric label',
      schema: z.string().max(63),
      default: 'unknown',
    },
    routeTtl: {
      description: 'without contact with the controller this long, send all traffic local',
      schema: durationSchema(1_000),
      default: '5m',
    },
    upstreamTimeout: {
      description: 'the longest wait for response headers, or between body chunks, from an upstream',
      schema: durationSchema(1),
      default: '60s',
    },
    drainDelay: {
      description: 'after SIGTERM, keep serving this long while the pod leaves the endpoints',
      schema: durationSchema(),
      default: '5s',
    },
    shutdownGrace: {
      description: 'after SIGTERM, the most time to finish in-flight requests before exiting',
      schema: durationSchema(),
      default: '25s',
    },
  },
  async run(options) {
    const logger = createLogger('proxy');
    const proxy = await startProxy({
      ...options,
      appHost: '127.0.0.1',
      routeTtlMs: options.routeTtl,
      upstreamTimeoutMs: options.upstreamTimeout,
      drainDelayMs: options.drainDelay,
      logger,
    });
    exitOnSignal({ logger, drain: () => proxy.drain(), graceMs: options.drainDelay + options.shutdownGrace });
    return new Promise<number>(() => undefined);
  },
});
