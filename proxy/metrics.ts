import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { grpcStatusLabel } from './h2/grpc.js';
import type { Destination } from './router.js';

/**
 * The proxy's metrics, named as DESIGN.md gives them. Label values are bounded: two destinations, the
 * status codes an upstream can send, the standard methods (anything else is `other`), and for gRPC calls
 * the 17 codes gRPC defines (anything else is `other`).
 */

export interface ProxyIdentity {
  namespace: string;
  deployment: string;
  role: string;
  revision: string;
}

/** Where a request went: `mirror` is a copy sent to the canary whose answer nobody read (docs/proxy.md). */
export type MetricDestination = Destination | 'mirror';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'destination' | 'code' | 'method' | 'grpc_status'>;
  private readonly duration: Histogram<'destination'>;
  private readonly fallbacks: Counter;
  private readonly mirrorsDropped: Counter;
  private readonly routeVersion: Gauge<'version'>;
  private readonly routeWeight: Gauge;
  private readonly routeStale: Gauge;
  /** prom-client hashes label sets on every call; the children are looked up once and kept. */
  private readonly requestChildren = new Map<string, { inc: () => void }>();
  private readonly durationChildren: Partial<
    Record<MetricDestination, { observe: (seconds: number) => void }>
  >;

  constructor(identity: ProxyIdentity) {
    const registers = [this.registry];
    const { namespace, deployment, role, revision } = identity;
    this.registry.setDefaultLabels({ namespace, deployment, role, revision });
    this.requests = new Counter({
      name: 'sluice_proxy_requests_total',
      help:
        'Requests forwarded, by where they went, the status code answered and the method; gRPC calls also ' +
        'by their grpc-status.',
      labelNames: ['destination', 'code', 'method', 'grpc_status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'sluice_proxy_request_duration_seconds',
      help: 'Time from a request arriving to its response ending, by where it went.',
      labelNames: ['destination'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.fallbacks = new Counter({
      name: 'sluice_proxy_canary_fallbacks_total',
      help: 'Requests the canary failed before answering, retried on the local app.',
      registers,
    });
    this.mirrorsDropped = new Counter({
      name: 'sluice_proxy_mirror_dropped_total',
      help: 'Requests not copied to the canary because the copies already under way reached the limit.',
      registers,
    });
    this.routeVersion = new Gauge({
      name: 'sluice_proxy_route_version',
      help: 'The route table in use: 1 for its version.',
      labelNames: ['version'],
      registers,
    });
    this.routeWeight = new Gauge({
      name: 'sluice_proxy_route_weight',
      help: 'The canary weight of the route table in use, in percent.',
      registers,
    });
    this.routeStale = new Gauge({
      name: 'sluice_proxy_route_stale',
      help: '1 while the controller has been out of reach longer than the route TTL and all traffic is local.',
      registers,
    });
    // The mirror's series appear with the first copy, so that a proxy that never mirrors exports none.
    this.durationChildren = { local: this.duration.labels('local'), canary: this.duration.labels('canary') };
  }

  request(destination: MetricDestination, code: number, method: string, seconds: number): void {
    const m = METHODS.has(method) ? method : 'other';
    const key = `${destination} ${code} ${m}`;
    let child = this.requestChildren.get(key);
    if (child === undefined) {
      child = this.requests.labels({ destination, code: String(code), method: m });
      this.requestChildren.set(key, child);
    }
    child.inc();
    this.durationOf(destination).observe(seconds);
  }

  private durationOf(destination: MetricDestination): { observe: (seconds: number) => void } {
    return (this.durationChildren[destination] ??= this.duration.labels(destination));
  }

  /**
   * A request of the HTTP/2 side: for a gRPC call, with its outcome as `grpc_status` ("0" … "16", or
   * "other"). Any status but 0 is an error for analysis, whatever the HTTP status (gRPC answers 200).
   */
  call(
    destination: Destination,
    code: number,
    method: string,
    grpcStatus: number | undefined,
    seconds: number,
  ): void {
    if (grpcStatus === undefined) return this.request(destination, code, method, seconds);
    const m = METHODS.has(method) ? method : 'other';
    const status = grpcStatusLabel(grpcStatus);
    const key = `${destination} ${code} ${m} ${status}`;
    let child = this.requestChildren.get(key);
    if (child === undefined) {
      child = this.requests.labels({ destination, code: String(code), method: m, grpc_status: status });
      this.requestChildren.set(key, child);
    }
    child.inc();
    this.durationOf(destination).observe(seconds);
  }

  mirrorDropped(): void {
    this.mirrorsDropped.inc();
  }

  fallback(): void {
    this.fallbacks.inc();
  }

  route(version: string, weight: number, stale: boolean): void {
    this.routeVersion.reset();
    this.routeVersion.labels(version).set(1);
    this.routeWeight.set(weight);
    this.routeStale.set(stale ? 1 : 0);
  }
}
