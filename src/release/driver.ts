import type { CanaryConfig } from '../annotations.js';
import { MetricsError } from '../metrics/errors.js';
import type { MetricsProvider, ReleaseTarget } from '../metrics/provider.js';
import type { Measurement } from './check.js';
import { nextCheckAt, quantilesOf, step } from './machine.js';
import type { Observations, ReleaseAction, ReleaseStatus, Step } from './status.js';

/** Carries out a release's actions and reports what it sees: Kubernetes, or the demo's processes. */
export interface Platform {
  observe(): Promise<Omit<Observations, 'measurement'>>;
  carryOut(action: ReleaseAction): Promise<void>;
}

export interface ReleaseLoopOptions {
  target: ReleaseTarget;
  platform: Platform;
  provider: MetricsProvider;
  config: () => CanaryConfig;
  status: ReleaseStatus;
  now?: () => number;
  /** After each step whose actions were all carried out, e.g. to store the status. */
  onStep?: (result: Step) => void | Promise<void>;
}

/**
 * One release's loop: observe, measure when a check is due, step, carry the actions out, keep the status.
 * When an action fails the status is not kept, so the next tick takes the same step again.
 */
export class ReleaseLoop {
  status: ReleaseStatus;
  private readonly now: () => number;

  constructor(private readonly options: ReleaseLoopOptions) {
    this.status = options.status;
    this.now = options.now ?? Date.now;
  }

  async tick(): Promise<Step> {
    const { platform, provider, target } = this.options;
    const config = this.options.config();
    const seen = await platform.observe();
    const now = this.now();
    const due = nextCheckAt(this.status, config);
    let measurement: Measurement | null = null;
    if (due !== null && now >= due) {
      const since = Date.parse(this.status.lastCheckAt ?? new Date(now).toISOString());
      const windowMs = Math.max(config.intervalMs, now - since);
      measurement = await provider
        .measure({ target, windowMs, quantiles: quantilesOf(config), at: now })
        .then(
          (metrics): Measurement => ({ ok: true, metrics }),
          (err: unknown): Measurement => {
            if (!(err instanceof MetricsError)) throw err;
            return { ok: false, error: { code: err.code, message: err.message } };
          },
        );
    }
    const result = step(this.status, { ...seen, measurement }, config, now);
    if (result.status.routedAt !== null && result.status.routedAt !== this.status.routedAt) {
      await provider.prepare?.(target, now);
    }
    for (const action of result.actions) await platform.carryOut(action);
    this.status = result.status;
    await this.options.onStep?.(result);
    return result;
  }
}
