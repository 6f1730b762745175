import type http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../src/log.js';
import { createAdminHandler, sendJson } from '../src/server.js';
import { admit, MalformedObjectError, type AdmitConfig } from './admit.js';
import { readReview, reviewResponse } from './review.js';

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

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** The body was larger than the limit: answered 413. */
export class BodyTooLargeError extends Error {
  readonly code = 'BodyTooLarge';
  readonly status = 413;
  constructor(limit: number) {
    super(`the body is larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** The body is compressed: the API server never compresses reviews, and the webhook reads them as they are. */
export class BodyEncodedError extends Error {
  readonly code = 'BodyEncoded';
  readonly status = 415;
  constructor(encoding: string) {
    super(`the body is sent with content-encoding ${encoding}; the webhook reads uncompressed bodies only`);
    this.name = 'BodyEncodedError';
  }
}

/**
 * Reads a request body whole as UTF-8 text, refusing more than `limit` bytes: by its content-length before a
 * byte is read, or as soon as the bytes read pass it.
 */
export function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return reject(new BodyEncodedError(encoding));
    if (Number(req.headers['content-length'] ?? 0) > limit) return reject(new BodyTooLargeError(limit));
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > limit) {
        req.off('data', onData);
        reject(new BodyTooLargeError(limit));
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, length).toString('utf8')));
    req.once('error', reject);
    // A request aborted before its end (the client went away) may emit neither; after either, a no-op.
    req.once('close', () => reject(new Error('the connection closed before the body ended')));
  });
}

/** Answers with a JSON body; a request whose body was not read to its end closes the connection. */
function reply(req: http.IncomingMessage, res: http.ServerResponse, status: number, value: unknown): void {
  if (!req.complete) res.shouldKeepAlive = false;
  sendJson(res, status, value);
}

/** The webhook's request listener: `POST /mutate`, health and metrics. */
export function createWebhookHandler(options: WebhookServerOptions): RequestListener {
  const { config, logger, registry, bodyLimitBytes = 8 * 1024 * 1024, isReady } = options;
  const admissions = new Counter({
    name: 'sluice_webhook_admissions_total',
    help: 'Admission reviews answered, by kind (Deployment, ConfigMap, Secret or other), operation and result.',
    labelNames: ['kind', 'operation', 'result'] as const,
    registers: [registry],
  });
  const count = (kind: string, operation: string, result: string): void =>
    admissions.inc({ kind, operation, result });
  const duration = new Histogram({
    name: 'sluice_webhook_admission_duration_seconds',
    help: 'Time to answer an admission review, from parsed body to response.',
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 0.5],
    registers: [registry],
  });
  const malformed = (req: http.IncomingMessage, res: http.ServerResponse, status: number, reason: string) => {
    count('unknown', 'unknown', 'malformed');
    reply(req, res, status, { reason });
  };

  const mutate = (req: http.IncomingMessage, res: http.ServerResponse, body: string): void => {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (err) {
      return malformed(req, res, 400, `the body is not JSON: ${(err as Error).message}`);
    }
    const started = process.hrtime.bigint();
    const parsed = readReview(value);
    if (!parsed.ok) {
      const reason = parsed.issues
        .map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`)
        .join('; ');
      return malformed(req, res, 400, `not an admission.k8s.io/v1 AdmissionReview: ${reason}`);
    }
    const { request } = parsed.review;
    const labels = {
      kind: HANDLED_KINDS.has(request.kind.kind) ? request.kind.kind : 'other',
      operation: request.operation,
    };
    let decision;
    try {
      decision = admit(request, config);
    } catch (err) {
      if (!(err instanceof MalformedObjectError)) throw err;
      count(labels.kind, labels.operation, 'malformed');
      return reply(req, res, 400, { reason: err.message });
    }
    const result = !decision.allowed ? 'denied' : decision.patch.length > 0 ? 'patched' : 'allowed';
    count(labels.kind, labels.operation, result);
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
    reply(req, res, 200, reviewResponse(request.uid, decision));
  };

  const admin = createAdminHandler({ isReady, registry });
  const handleMutate = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    readBody(req, bodyLimitBytes).then(
      (body) => {
        try {
          mutate(req, res, body);
        } catch (err) {
          logger.error({ err, path: '/mutate' }, 'requestFailed');
          count('unknown', 'unknown', 'error');
          if (!res.headersSent) reply(req, res, 500, { reason: 'internal error' });
          else res.destroy();
        }
      },
      (err: unknown) => {
        if (err instanceof BodyTooLargeError || err instanceof BodyEncodedError)
          return malformed(req, res, err.status, err.message);
        // The client went away while sending: nobody is left to answer.
        res.destroy();
      },
    );
  };

  // Four paths need no framework: the API server calls `/mutate?timeout=10s`, so only the path is matched.
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/mutate') {
      if (req.method === 'POST') return handleMutate(req, res);
      res.setHeader('allow', 'POST');
      return sendJson(res, 405, { reason: 'the webhook answers POST /mutate' });
    }
    if (path === '/livez' || path === '/readyz' || path === '/metrics') return admin(req, res);
    sendJson(res, 404, { reason: 'not found: the webhook serves POST /mutate' });
  };
}

export interface HttpsOptions {
  credentials: SecureContextOptions;
  requestTimeoutMs?: number;
}

export function createWebhookServer(listener: RequestListener, options: HttpsOptions): https.Server {
  const server = https.createServer({ ...options.credentials, minVersion: 'TLSv1.2' }, listener);
  server.requestTimeout = options.requestTimeoutMs ?? 15_000;
  server.headersTimeout = Math.min(server.requestTimeout, 10_000);
  // Longer than the API server's idle timeout for its webhook connections, so that it closes them first.
  server.keepAliveTimeout = 95_000;
  return server;
}
