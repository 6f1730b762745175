import { request } from 'undici';
import { z } from 'zod';
import { BadQueryError, NoValuesError, ProviderUnreachableError } from './errors.js';
import {
  type MetricsProvider,
  type MetricsQuery,
  quantileKey,
  type ReleaseMetrics,
  type SideMetrics,
} from './provider.js';
import { queries, type QueryScope, type Side } from './queries.js';
import { sideMetrics } from './window.js';

const responseSchema = z.object({
  status: z.enum(['success', 'error']),
  error: z.string().optional(),
  data: z
    .object({
      resultType: z.string(),
      result: z.array(z.object({ value: z.tuple([z.number(), z.string()]) })),
    })
    .optional(),
});

export interface PrometheusProviderOptions {
  url: string;
  timeoutMs?: number;
}

/** Reads the proxies' metrics from Prometheus through its HTTP API (`/api/v1/query`). */
export class PrometheusProvider implements MetricsProvider {
  readonly name = 'prometheus';
  private readonly url: string;
  private readonly timeoutMs: number;

  constructor(options: PrometheusProviderOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async measure(query: MetricsQuery): Promise<ReleaseMetrics> {
    const [canary, primary] = await Promise.all([this.side(query, 'canary'), this.side(query, 'primary')]);
    return { canary, primary };
  }

  /**
   * A side with no requests in the window has no series to sum: that is zero requests, not an error, so
   * that the check is inconclusive. With requests, every other query must have a value.
   */
  private async side(query: MetricsQuery, side: Side): Promise<SideMetrics> {
    const scope: QueryScope = {
      ...query.target,
      side,
      windowMs: query.windowMs,
      canaryTraffic: query.canaryTraffic ?? 'routed',
    };
    const at = query.at;
    const requests = (await this.scalar(queries.requests(scope), at)) ?? 0;
    const empty = Object.fromEntries(query.quantiles.map((q) => [quantileKey(q), null]));
    if (requests <= 0) return sideMetrics(0, 0, null, empty);

    const [errors, meanSeconds, ...quantileSeconds] = await Promise.all([
      this.scalar(queries.errors(scope), at),
      this.required(queries.meanLatencySeconds(scope), at),
      ...query.quantiles.map((q) => this.required(queries.latencyQuantileSeconds(scope, q), at)),
    ]);
    const latencyQuantilesMs = Object.fromEntries(
      query.quantiles.map((q, i) => [quantileKey(q), toMs(quantileSeconds[i] ?? null)]),
    );
    return sideMetrics(requests, errors ?? 0, toMs(meanSeconds ?? null), latencyQuantilesMs);
  }

  private async required(promql: string, at: number): Promise<number | null> {
    const value = await this.scalar(promql, at);
    if (value === undefined) throw new NoValuesError(promql);
    return value;
  }

  /** The single value of an instant query; undefined when it has none, null when it is NaN. */
  async scalar(promql: string, at: number): Promise<number | null | undefined> {
    const body = new URLSearchParams({ query: promql, time: String(at / 1000) }).toString();
    let status: number;
    let json: unknown;
    try {
      const res = await request(`${this.url}/api/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      status = res.statusCode;
      json = await res.body.json().catch(() => undefined);
    } catch (err) {
      throw new ProviderUnreachableError(this.name, this.url, { cause: err });
    }
    const parsed = responseSchema.safeParse(json);
    if (!parsed.success) {
      throw new ProviderUnreachableError(this.name, this.url, {
        cause: new Error(`HTTP ${status}: not a Prometheus API answer`),
      });
    }
    if (parsed.data.status === 'error' || parsed.data.data === undefined) {
      if (status >= 500) {
        throw new ProviderUnreachableError(this.name, this.url, { cause: new Error(parsed.data.error) });
      }
      throw new BadQueryError(promql, parsed.data.error ?? `HTTP ${status}`);
    }
    const first = parsed.data.data.result[0];
    if (first === undefined) return undefined;
    const value = Number(first.value[1]);
    return Number.isFinite(value) ? value : null;
  }
}

const toMs = (seconds: number | null): number | null => (seconds === null ? null : seconds * 1000);
