import type { Logger } from '../log.js';
import { apiPath, isConflict, isNotFound, type KubeObject, type KubeRest } from '../kube/rest.js';

/**
 * Leader election with a coordination.k8s.io Lease, as Kubernetes' own controllers do it: the holder renews
 * the Lease every `retryMs`; another replica takes it over only once it has not been renewed for
 * `leaseDurationMs`. Every write carries the Lease's resourceVersion, so two replicas can never both win.
 * A leader that cannot renew within the lease duration steps down before anyone else may take over; and
 * since a stalled process (a long GC pause, SIGSTOP, a frozen VM) runs its timers late, `isLeader` also says
 * false once the last renewal is older than the lease, before the late renewal attempt has run.
 */

interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectorOptions {
  rest: KubeRest;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  logger: Logger;
  onChange: (leading: boolean) => void;
  now?: () => number;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private leading = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private observed: { version: string; at: number } | undefined;
  private inflight: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: LeaderElectorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Leading, and renewed within the lease duration by this replica's clock: safe to act now. */
  get isLeader(): boolean {
    return this.leading && this.now() - this.lastRenew < this.options.leaseDurationMs;
  }

  private get path(): string {
    return apiPath('coordination.k8s.io/v1', 'leases', this.options.namespace, this.options.name);
  }

  private get retryMs(): number {
    return Math.max(200, Math.floor(this.options.leaseDurationMs / 5));
  }

  start(): void {
    const loop = async (): Promise<void> => {
      if (this.stopped) return;
      this.inflight = this.attempt();
      await this.inflight;
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.retryMs);
    };
    void loop();
  }

  /** Stops trying; a leader gives the Lease up so that another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A renewal still under way would make the release below conflict with it.
    await this.inflight;
    if (!this.leading) return;
    this.set(false);
    try {
      const lease = await this.options.rest.get<Lease>(this.path);
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      // An update carrying the resourceVersion read: the Role grants update, not patch.
      await this.options.rest.replace(this.path, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 },
      });
      this.options.logger.info({ lease: this.options.name }, 'leaseReleased');
    } catch (err) {
      this.options.logger.warn({ err, lease: this.options.name }, 'leaseReleaseFailed');
    }
  }

  private async attempt(): Promise<void> {
    const { rest, identity, leaseDurationMs, logger } = this.options;
    const now = this.now();
    try {
      const lease = await rest.getOrNull<Lease>(this.path);
      const seconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
      if (lease === null) {
        await rest.create(apiPath('coordination.k8s.io/v1', 'leases', this.options.namespace), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.options.name, namespace: this.options.namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: seconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        return this.renewed(now);
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      // Expiry by this replica's own clock since it saw the record change, never by the holder's timestamps:
      // the replicas' clocks need not agree.
      const version = lease.metadata?.resourceVersion ?? '';
      if (this.observed?.version !== version) this.observed = { version, at: now };
      const expired = holder === '' || now - this.observed.at > (spec.leaseDurationSeconds ?? seconds) * 1000;
      if (holder !== identity && !expired) return this.lost();
      await rest.replace(this.path, {
        ...lease,
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: seconds,
          acquireTime: holder === identity ? (spec.acquireTime ?? microTime(now)) : microTime(now),
          renewTime: microTime(now),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
        },
      });
      this.renewed(now);
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err))
        logger.warn({ err, lease: this.options.name }, 'leaseRenewFailed');
      // Keep leading only while the last renewal is still within the lease: nobody else can have taken it.
      if (this.leading && now - this.lastRenew >= leaseDurationMs) this.lost();
    }
  }

  private renewed(now: number): void {
    this.lastRenew = now;
    this.set(true);
  }

  private lost(): void {
    this.set(false);
  }

  private set(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.options.logger.info(
      { lease: this.options.name, identity: this.options.identity, leading },
      'leadership',
    );
    this.options.onChange(leading);
  }
}
