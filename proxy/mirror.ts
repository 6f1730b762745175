import type { ProxyMetrics } from './metrics.js';
import { HOP_HEADER } from './router.js';
import type { UpstreamConnection, UpstreamError, UpstreamListener, UpstreamPool } from './upstream.js';

/**
 * Mirroring (docs/proxy.md, "Mirroring"): a copy of a request the local app answers is also sent to the
 * canary, and the canary's answer is read and dropped. The user's exchange never waits for a copy and
 * never hears of it: a copy has its own connections (its own pool), its own deadline (the pool's), and
 * at most `maxInFlight` are under way at once; past that, copies are dropped and counted, so a canary
 * that stops answering costs a bounded number of sockets, not the user's time.
 *
 * Only bodiless requests are copied (proxy/router.ts, `shouldMirror`): there is nothing to buffer, and the
 * head is the forwarded one the exchange already built.
 */

/** Copies under way at once, per proxy, before further ones are dropped. */
export const MIRROR_MAX_IN_FLIGHT = 64;

/** Tells the canary's app a request is a copy whose answer nobody reads, e.g. to skip side effects. */
export const MIRROR_HEADER = 'x-sluice-mirror';

const BAD_GATEWAY = 502;
const GATEWAY_TIMEOUT = 504;

export class Mirror {
  private inFlight = 0;

  constructor(
    private readonly metrics: ProxyMetrics,
    private readonly maxInFlight = MIRROR_MAX_IN_FLIGHT,
  ) {}

  /** Copies under way now. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * Sends a copy of a bodiless request to the canary through `pool`. `lines` are the forwarded header
   * lines, each ending in CRLF, without the hop header.
   */
  copy(pool: UpstreamPool, method: string, url: string, lines: string): void {
    if (this.inFlight >= this.maxInFlight) {
      this.metrics.mirrorDropped();
      return;
    }
    this.inFlight++;
    const head = `${method} ${url} HTTP/1.1\r\n${lines}${HOP_HEADER}: 1\r\n${MIRROR_HEADER}: 1\r\n\r\n`;
    new MirrorCopy(this, pool, method, head).send();
  }

  /** @internal A copy ended, answered or not: counted with its status under `destination="mirror"`. */
  ended(method: string, status: number, seconds: number): void {
    this.inFlight--;
    this.metrics.request('mirror', status, method, seconds);
  }
}

/** One copy: written once connected, its answer read to the end (so the connection can be reused) and dropped. */
class MirrorCopy implements UpstreamListener {
  private readonly startedAt = performance.now();
  private upstream: UpstreamConnection | undefined;
  private status = 0;
  private retried = false;
  private done = false;

  constructor(
    private readonly mirror: Mirror,
    private readonly pool: UpstreamPool,
    private readonly method: string,
    private readonly head: string,
  ) {}

  send(): void {
    this.upstream = this.pool.acquire(this);
    if (this.upstream.connected) this.onConnected();
  }

  onConnected(): void {
    const upstream = this.upstream as UpstreamConnection;
    upstream.write(this.head);
    upstream.endRequest();
  }

  onResponseHead(status: number): boolean {
    this.status = status;
    return this.method === 'HEAD';
  }

  onResponseBody(): void {
    // Dropped: nobody reads a copy's answer.
  }

  onResponseEnd(): void {
    this.end(this.status);
  }

  onUpstreamError(err: UpstreamError, beforeResponse: boolean): void {
    if (this.done) return;
    const stale =
      beforeResponse &&
      this.upstream?.reused === true &&
      (err.code === 'Reset' || err.code === 'ClosedEarly');
    if (stale && !this.retried) {
      // The keep-alive race (the canary closed an idle connection as the copy went out), not a failure of
      // the canary: once more on a fresh connection, as the user's exchanges do.
      this.retried = true;
      this.send();
      return;
    }
    this.end(err.timedOut ? GATEWAY_TIMEOUT : BAD_GATEWAY);
  }

  private end(status: number): void {
    if (this.done) return;
    this.done = true;
    this.mirror.ended(this.method, status, (performance.now() - this.startedAt) / 1000);
  }
}
