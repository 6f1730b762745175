import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import type { Logger } from '../src/log.js';
import {
  localOnlyTable,
  routeTableSchema,
  routeVersionSchema,
  type RouteTable,
} from '../src/routes/table.js';
import { ROUTE_HOLD_MS } from '../src/routes/server.js';

export interface RouteClientOptions {
  controlUrl: string;
  namespace: string;
  deployment: string;
  /** Without contact this long, the proxy stops trusting its table and sends everything local. */
  ttlMs: number;
  logger: Logger;
  /** Applies a new table; `stale` is true when it is the all-local fallback after the TTL. */
  apply: (table: RouteTable, stale: boolean) => void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * The proxy's side of the route protocol: a long-poll loop against the controller. A table that fails
 * validation is logged and ignored (the previous one stays); while the controller is away the last table
 * stays in use, until the TTL passes without contact.
 */
export class RouteClient {
  private readonly url: string;
  private readonly path: string;
  private readonly abort = new AbortController();
  /**
   * One kept-alive connection for all the polls. A change answers every proxy's held poll at once; were
   * each to ask again on a new connection, a thousand proxies' connects would overflow the route server's
   * accept queue, and the dropped ones, retried by TCP after 1 s and 3 s, would get the next change
   * seconds late (docs/reliability.md, "Route propagation"). undici's Client is that one connection; it
   * costs a poll about a quarter less CPU than Node's http.get through an Agent (bench/route-scale.ts).
   */
  private readonly client: Client;
  private known: string | undefined;
  private staleTimer: NodeJS.Timeout | undefined;
  private stale = false;
  private failing = false;
  private loop: Promise<void> | undefined;
  lastContact: Date | undefined;

  constructor(private readonly options: RouteClientOptions) {
    const { controlUrl, namespace, deployment } = options;
    // Held polls count as contact only when they end, so ask for holds well inside the TTL.
    const waitSeconds = Math.min(ROUTE_HOLD_MS, options.ttlMs / 3) / 1000;
    this.url = `${controlUrl}/v1/routes/${encodeURIComponent(namespace)}/${encodeURIComponent(deployment)}?wait=${waitSeconds}`;
    const url = new URL(this.url);
    this.path = `${url.pathname}${url.search}`;
    this.client = new Client(url.origin, { headersTimeout: POLL_TIMEOUT_MS, bodyTimeout: POLL_TIMEOUT_MS });
  }

  start(): void {
    this.armStaleTimer();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.staleTimer);
    await this.loop;
    await this.client.destroy();
  }

  private async run(): Promise<void> {
    const { minBackoffMs = 500, maxBackoffMs = 10_000, logger } = this.options;
    let backoff = minBackoffMs;
    while (!this.abort.signal.aborted) {
      try {
        await this.poll();
        backoff = minBackoffMs;
        if (this.failing) logger.info({ url: this.url }, 'routeServerReachable');
        this.failing = false;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (!this.failing) logger.warn({ err, url: this.url }, 'routeServerUnreachable');
        this.failing = true;
        const jittered = backoff / 2 + Math.random() * (backoff / 2);
        await sleep(jittered, undefined, { signal: this.abort.signal }).catch(() => undefined);
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
  }

  private async poll(): Promise<void> {
    const headers: Record<string, string> = {};
    if (this.known !== undefined) headers['if-none-match'] = `"${this.known}"`;
    const { status, body: text } = await this.get(headers);
    if (status === 304) return this.contact();
    if (status !== 200) throw new RouteServerError(`route server answered ${status}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    this.contact();
    const parsed = routeTableSchema.safeParse(body);
    if (!parsed.success) {
      // Remember the rejected version so that the next poll waits for a change instead of spinning on it.
      // A version that is itself malformed is not remembered: it could not be sent back in If-None-Match.
      const version = routeVersionSchema.safeParse((body as { version?: unknown } | undefined)?.version);
      if (version.success && version.data === this.known) {
        throw new RouteServerError('route server resent a table that was rejected');
      }
      if (version.success) this.known = version.data;
      this.options.logger.error(
        { url: this.url, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) },
        'routeTableRejected',
      );
      return;
    }
    if (parsed.data.version === this.known)
      throw new RouteServerError('route server resent the table it had sent');
    this.known = parsed.data.version;
    this.options.apply(parsed.data, false);
  }

  /** One poll on the client's connection; the whole body, at most MAX_TABLE_BYTES. */
  private async get(headers: Record<string, string>): Promise<{ status: number; body: string }> {
    let res;
    try {
      res = await this.client.request({ path: this.path, method: 'GET', headers, signal: this.abort.signal });
    } catch (err) {
      throw timeoutError(err) ?? err;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        length += chunk.length;
        if (length > MAX_TABLE_BYTES) {
          res.body.destroy();
          throw new RouteServerError('route table larger than 1 MiB');
        }
        chunks.push(chunk);
      }
    } catch (err) {
      throw timeoutError(err) ?? err;
    }
    return { status: res.statusCode, body: Buffer.concat(chunks, length).toString('utf8') };
  }

  private contact(): void {
    this.lastContact = new Date();
    if (this.stale) {
      this.stale = false;
      this.options.logger.info('routeContactRestored');
    }
    this.armStaleTimer();
  }

  private armStaleTimer(): void {
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => this.expire(), this.options.ttlMs);
    this.staleTimer.unref();
  }

  private expire(): void {
    if (this.abort.signal.aborted) return;
    this.stale = true;
    // Forget the version so that, once the controller answers again, it sends its table at once.
    this.known = undefined;
    this.options.logger.warn(
      { ttlMs: this.options.ttlMs, lastContact: this.lastContact },
      'routeStaleAllLocal',
    );
    this.options.apply(localOnlyTable(), true);
  }
}

export class RouteServerError extends Error {
  readonly code = 'RouteServer';
  constructor(message: string) {
    super(message);
    this.name = 'RouteServerError';
  }
}

/** A held poll lasts up to ROUTE_HOLD_MS; one without an answer well after that is given up. */
const POLL_TIMEOUT_MS = ROUTE_HOLD_MS + 15_000;

/** undici's timeout errors, named as the route client names its own. */
function timeoutError(err: unknown): RouteServerError | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
    ? new RouteServerError(`no answer within ${POLL_TIMEOUT_MS} ms`)
    : undefined;
}

const MAX_TABLE_BYTES = 1024 * 1024;
