import type http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../src/log.js';
import { sendText } from '../src/server.js';
import { admit, MalformedObjectError, type AdmitConfig } from './admit.js';
import { readReview, reviewResponseJson } from './review.js';

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
 * The buffer a connection's request bodies are gathered in, one request at a time, and kept for the next:
 * one allocation per connection, not one per review. A Buffer made for each body is native memory that V8
 * counts against the old generation until the next scavenge, and at 33 KB a review that helped drive the
 * webhook into repeated mark-compacts under a steady load (README, "Benchmarks → The webhook"); text decoded
 * chunk by chunk instead was three strings and a copy to flatten them, a quarter of what a review allocated.
 */
interface BodyBuffer {
  bytes: Buffer;
  busy: boolean;
}

const bodyBuffers = new WeakMap<object, BodyBuffer>();
const INITIAL_BODY_BYTES = 64 * 1024;
/** A connection keeps at most this much between requests; a larger body's buffer is let go after it. */
const KEPT_BODY_BYTES = 1024 * 1024;

/** The connection's buffer, or a buffer of its own for a request that arrives while another is read. */
function takeBodyBuffer(connection: object): BodyBuffer {
  const kept = bodyBuffers.get(connection);
  if (kept !== undefined && !kept.busy) {
    kept.busy = true;
    return kept;
  }
  const fresh = { bytes: Buffer.allocUnsafe(INITIAL_BODY_BYTES), busy: true };
  if (kept === undefined) bodyBuffers.set(connection, fresh);
  return fresh;
}

function releaseBodyBuffer(buffer: BodyBuffer): void {
  buffer.busy = false;
  if (buffer.bytes.length > KEPT_BODY_BYTES) buffer.bytes = Buffer.allocUnsafe(INITIAL_BODY_BYTES);
}

/**
 * Reads a request body whole as UTF-8 text, refusing more than `limit` bytes: by its content-length before a
 * byte is read, or as soon as the bytes read pass it. The bytes are gathered in the connection's buffer and
 * decoded once, at the end, into one flat string for JSON.parse.
 */
export function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return reject(new BodyEncodedError(encoding));
    if (Number(req.headers['content-length'] ?? 0) > limit) return reject(new BodyTooLargeError(limit));
    const buffer = takeBodyBuffer(req.socket);
    let length = 0;
    let settled = false;
    const settle = (): void => {
      settled = true;
      req.off('data', onData);
      releaseBodyBuffer(buffer);
    };
    const onData = (chunk: Buffer): void => {
      if (length + chunk.length > limit) {
        settle();
        reject(new BodyTooLargeError(limit));
        return;
      }
      if (length + chunk.length > buffer.bytes.length) {
        const grown = Buffer.allocUnsafe(
          Math.min(limit, Math.max(length + chunk.length, buffer.bytes.length * 2)),
        );
        buffer.bytes.copy(grown, 0, 0, length);
        buffer.bytes = grown;
      }
      chunk.copy(buffer.bytes, length);
      length += chunk.length;
    };
    req.on('data', onData);
    req.once('end', () => {
      if (settled) return;
      const text = buffer.bytes.toString('utf8', 0, length);
      settle();
      resolve(text);
    });
    req.once('error', (err) => {
      if (settled) return;
      settle();
      reject(err);
    });
    // A request aborted before its end (the client went away) may emit neither.
    req.once('close', () => {
      if (settled) return;
      settle();
      reject(new Error('the connection closed before the body ended'));
    });
  });
}

/** Answers with a JSON body; a request whose body was not read to its end closes the connection. */
function reply(req: http.IncomingMessage, res: http.ServerResponse, status: number, value: unknown): void {
  replyText(req, res, status, JSON.stringify(value));
}

function replyText(req: http.IncomingMessage, res: http.ServerResponse, status: number, json: string): void {
  if (!req.complete) res.shouldKeepAlive = false;
  sendText(res, status, json, 'application/json');
}

/**
 * The webhook's request listener. `POST /mutate`, on every write the API server admits, is answered
 * directly: express's per-request prototype switching and router cost about 90 µs a request here, more
 * than half of the whole transport's (bench/allow-server.ts). Health, metrics and anything else go to
 * express.
 */
export function createWebhookHandler(options: WebhookServerOptions): RequestListener {
  const { config, logger, registry, bodyLimitBytes = 8 * 1024 * 1024, isReady } = options;
  const admissions = new Counter({
    name: 'sluice_webhook_admissions_total',
    help: 'Admission reviews answered, by kind (Deployment, ConfigMap, Secret or other), operation and result.',
    labelNames: ['kind', 'operation', 'result'] as const,
    registers: [registry],
  });
  // prom-client hashes a label object on every inc (a microsecond a review); a child per label set is kept
  // instead. The sets are few: four kinds, the review's operations (checked) and five results.
  const counted = new Map<string, { inc: () => void }>();
  const count = (kind: string, operation: string, result: string): void => {
    const key = `${kind} ${operation} ${result}`;
    let child = counted.get(key);
    if (child === undefined) counted.set(key, (child = admissions.labels(kind, operation, result)));
    child.inc();
  };
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
      const reason = parsed.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
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
    replyText(req, res, 200, reviewResponseJson(request.uid, decision));
  };

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
  app.all(
    '/mutate',
    (_req, res) =>
      void res.status(405).set('allow', 'POST').json({ reason: 'the webhook answers POST /mutate' }),
  );
  app.use(
    (_req: Request, res: Response) =>
      void res.status(404).json({ reason: 'not found: the webhook serves POST /mutate' }),
  );
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err, path: req.path }, 'requestFailed');
    if (res.headersSent) return void res.end();
    res.status(httpStatusOf(err)).json({ reason: 'internal error' });
  });

  return (req, res) => {
    if (req.method !== 'POST' || pathOf(req.url) !== '/mutate') return void app(req, res);
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
}

function pathOf(url: string | undefined): string {
  const query = url?.indexOf('?') ?? -1;
  return url === undefined ? '/' : query === -1 ? url : url.slice(0, query);
}

function httpStatusOf(err: unknown): number {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
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
