import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../src/log.js';
import { admit, MalformedObjectError, type AdmitConfig } from './admit.js';
import { admissionReviewSchema, reviewResponse } from './review.js';

/**
 * The webhook's HTTPS edge: translates AdmissionReviews to and from the pure `admit`, and counts them.
 * Health and metrics are served on the same port, because the API server and the kubelet both reach it.
 */

export interface WebhookServerOptions {
  config: AdmitConfig;
  logger: Logger;
  registry: Registry;
  /** An AdmissionReview holds the object and the old object, each up to the API server's 3 MiB. */
  bodyLimitBytes?: number;
  /** The API server gives up after its own timeout (10 s by default, 30 s at most). */
  requestTimeoutMs?: number;
  isReady: () => boolean;
}

const HANDLED_KINDS = new Set(['Deployment', 'ConfigMap', 'Secret']);

export function createWebhookApp(options: WebhookServerOptions): express.Express {
  const { config, logger, registry, bodyLimitBytes = 8 * 1024 * 1024, isReady } = options;
  const admissions = new Counter({
    name: 'sluice_webhook_admissions_total',
    help: 'Admission reviews answered, by kind (Deployment, ConfigMap, Secret or other), operation and result.',
    labelNames: ['kind', 'operation', 'result'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'sluice_webhook_admission_duration_seconds',
    help: 'Time to answer an admission review, from parsed body to response.',
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5],
    registers: [registry],
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/livez', (_req, res) => void res.type('text/plain').send('ok\n'));
  app.get(
    '/readyz',
    (_req, res) =>
      void res
        .status(isReady() ? 200 : 503)
        .type('text/plain')
        .send(isReady() ? 'ok\n' : 'not ready\n'),
  );
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  // Any content type is read as JSON: the API server sends application/json, and a client that labels its
  // body differently still deserves an answer about the body rather than a 415.
  app.post('/mutate', express.json({ limit: bodyLimitBytes, type: () => true, strict: true }), (req, res) => {
    const started = process.hrtime.bigint();
    const parsed = admissionReviewSchema.safeParse(req.body);
    if (!parsed.success) {
      admissions.inc({ kind: 'unknown', operation: 'unknown', result: 'malformed' });
      const reason = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return void res.status(400).json({ reason: `not an admission.k8s.io/v1 AdmissionReview: ${reason}` });
    }
    const { request } = parsed.data;
    const labels = {
      kind: HANDLED_KINDS.has(request.kind.kind) ? request.kind.kind : 'other',
      operation: request.operation,
    };
    let decision;
    try {
      decision = admit(request, config);
    } catch (err) {
      if (!(err instanceof MalformedObjectError)) throw err;
      admissions.inc({ ...labels, result: 'malformed' });
      return void res.status(400).json({ reason: err.message });
    }
    const result = !decision.allowed ? 'denied' : decision.patch.length > 0 ? 'patched' : 'allowed';
    admissions.inc({ ...labels, result });
    duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (!decision.allowed) {
      logger.info(
        {
          uid: request.uid,
          kind: labels.kind,
          namespace: request.namespace,
          name: request.name,
          code: decision.denial.code,
        },
        'admissionDenied',
      );
    }
    res.json(reviewResponse(request.uid, decision));
  });

  app.use(
    (_req: Request, res: Response) =>
      void res.status(404).json({ reason: 'not found: the webhook serves POST /mutate' }),
  );
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(err);
    if (status >= 500) logger.error({ err, path: req.path }, 'requestFailed');
    if (req.path === '/mutate')
      admissions.inc({
        kind: 'unknown',
        operation: 'unknown',
        result: status >= 500 ? 'error' : 'malformed',
      });
    const reason =
      status === 413
        ? `the body is larger than ${bodyLimitBytes} bytes`
        : status < 500
          ? `the body is not JSON: ${(err as Error).message}`
          : 'internal error';
    if (res.headersSent) return void res.end();
    res.status(status).json({ reason });
  });
  return app;
}

function httpStatusOf(err: unknown): number {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

export interface HttpsOptions {
  credentials: SecureContextOptions;
  requestTimeoutMs?: number;
}

export function createWebhookServer(app: express.Express, options: HttpsOptions): https.Server {
  const server = https.createServer({ ...options.credentials, minVersion: 'TLSv1.2' }, app);
  server.requestTimeout = options.requestTimeoutMs ?? 15_000;
  server.headersTimeout = Math.min(server.requestTimeout, 10_000);
  // Longer than the API server's idle timeout for its webhook connections, so that it closes them first.
  server.keepAliveTimeout = 95_000;
  return server;
}
