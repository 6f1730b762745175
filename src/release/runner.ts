import type { CanaryConfig } from '../annotations.js';
import type { Logger } from '../log.js';
import type { MetricsProvider, ReleaseTarget } from '../metrics/provider.js';
import type { Platform } from '../platform/platform.js';
import type { Measurement } from './check.js';
import { type ReadConfigMap, withTemplateMetrics } from './custom-metrics.js';
import { nextCheckAt, quantilesOf, step } from './machine.js';
import { initialStatus, type ReleaseAction, type ReleaseStatus, type Step } from './status.js';

/**
 * Drives one release: each tick it observes the platform, asks the provider for the window's numbers
 * when a check is due, takes one step of the state machine and hands the actions to the platform. The
 * same runner serves the controller (kube platform, ticked by watch events and a timer) and the demo
 * (local platform, run until the release is over).
 */

export interface RunnerOptions {
  target: ReleaseTarget;
  config: CanaryConfig;
  platform: Platform;
  provider: MetricsProvider;
  logger: Logger;
  /** Resumes from a recorded status; a fresh release starts Initialized. */
  status?: ReleaseStatus;
  now?: () => number;
  /**
   * Asked before every write (each action and the status): false stops the step with `NotLeaderError`. The
   * controller answers whether it still holds the Lease, so a replica that stalled past it writes nothing.
   */
  mayAct?: () => boolean;
  /** Reads the metric-template ConfigMap (sluice.dev/metric-templates) in the target's namespace. */
  readConfigMap?: ReadConfigMap;
  /** Called after every step, once its actions are carried out. */
  onStep?: (step: StepReport) => void;
}

export interface StepReport extends Step {
  readonly at: number;
  readonly measurement: Measurement | null;
}

const SETTLED = new Set(['Succeeded', 'Failed']);

export class ReleaseRunner {
  private current: ReleaseStatus;
  private readonly now: () => number;

  constructor(private readonly options: RunnerOptions) {
    this.now = options.now ?? Date.now;
    this.current = options.status ?? initialStatus(this.now());
  }

  get status(): ReleaseStatus {
    return this.current;
  }

  /** One step. Actions run in order; one that throws stops the step, and the next tick tries again. */
  async tick(): Promise<StepReport> {
    const { platform, provider, config, target, logger } = this.options;
    const world = await platform.observe();
    const due = nextCheckAt(this.current, config);
    const at = this.now();
    const measurement = due !== null && at >= due ? await measure(this.options, this.current, at) : null;
    const next = step(this.current, { ...world, measurement }, config, at);
    for (const action of next.actions) {
      this.assertMayAct(action.type);
      try {
        await platform.apply(action);
      } catch (err) {
        logger.error({ err, action: action.type, ...target }, 'releaseActionFailed');
        throw new ReleaseActionError(action, { cause: err });
      }
    }
    this.assertMayAct('record');
    this.current = next.status;
    await platform.record(next.status, next.actions);
    if (
      provider.scrape !== undefined &&
      next.actions.some((a) => a.type === 'setRoute' && a.route !== null)
    ) {
      // Stamped with the step's time, where the next check's window starts (nextCheckAt).
      await provider.scrape(target, at).catch((err: unknown) => {
        logger.warn({ err, ...target }, 'windowStartScrapeFailed');
      });
    }
    const report: StepReport = { ...next, at, measurement };
    this.options.onStep?.(report);
    return report;
  }

  private assertMayAct(write: string): void {
    if (this.options.mayAct?.() === false) throw new NotLeaderError(write);
  }

  /**
   * Ticks every `tickMs` until the release has started and settled (Succeeded or Failed), or the signal
   * aborts. Between checks a tick only looks at readiness and actions, so a short tick costs little and
   * keeps promotion and rollback prompt.
   */
  async runUntilSettled(tickMs: number, signal?: AbortSignal): Promise<ReleaseStatus> {
    let started = false;
    while (!signal?.aborted) {
      try {
        const { status } = await this.tick();
        if (status.phase !== 'Initialized') started = true;
        if (started && SETTLED.has(status.phase)) return status;
      } catch (err) {
        if (!(err instanceof ReleaseActionError)) throw err;
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    return this.current;
  }
}

/** An action the platform could not carry out; the step it belonged to is not recorded. */
export class ReleaseActionError extends Error {
  readonly code = 'ReleaseActionFailed';
  constructor(
    readonly action: ReleaseAction,
    options: { cause: unknown },
  ) {
    super(`could not ${action.type}`, options);
    this.name = 'ReleaseActionError';
  }
}

/** The replica lost the Lease during a step (it stalled past it): the step stops before this write. */
export class NotLeaderError extends Error {
  readonly code = 'NotLeader';
  constructor(readonly write: string) {
    super(`not the leader any more: the step stops before ${write}`);
    this.name = 'NotLeaderError';
  }
}

async function measure(options: RunnerOptions, status: ReleaseStatus, at: number): Promise<Measurement> {
  const { provider, target, config, readConfigMap } = options;
  try {
    const metrics = await provider.measure({
      target,
      windowMs: config.intervalMs,
      quantiles: quantilesOf(config),
      at,
    });
    const context = { provider, config, target, status, readConfigMap, at };
    return { ok: true, metrics: await withTemplateMetrics(metrics, context) };
  } catch (err) {
    const error = err as { code?: string; message?: string };
    return { ok: false, error: { code: error.code ?? 'Unknown', message: error.message ?? String(err) } };
  }
}
