import type { CanaryConfig } from '../annotations.js';
import type { Logger } from '../log.js';
import type { CanaryTraffic, MetricsProvider, ReleaseTarget } from '../metrics/provider.js';
import type { Platform } from './platform.js';
import type { Measurement } from './check.js';
import { GateClient } from './gate-client.js';
import { describeAnswer, type GateAnswer } from './gates.js';
import { type ReadConfigMap, withTemplateMetrics } from './custom-metrics.js';
import { nextCheckAt, quantilesOf, step } from './machine.js';
import {
  initialStatus,
  type Observations,
  type ReleaseAction,
  type ReleaseStatus,
  type Step,
} from './status.js';

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
  private readonly gates: GateClient;

  constructor(private readonly options: RunnerOptions) {
    this.now = options.now ?? Date.now;
    this.current = options.status ?? initialStatus(this.now());
    const { config, target, logger } = options;
    this.gates = new GateClient(config.gates, config.gateTimeoutMs, target, logger);
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
    const routed = this.current.routedAt !== null;
    const traffic = this.current.phase === 'Mirroring' ? 'mirrored' : 'routed';
    const measurement =
      routed && due !== null && at >= due ? await measure(this.options, this.current, at, traffic) : null;
    const next = await this.stepWithGates({ ...world, measurement, gates: [] }, at);
    const checksum = next.status.candidateRevision ?? world.candidateRevision ?? '';
    for (const action of next.actions) {
      this.assertMayAct(action.type);
      try {
        if (action.type === 'postRollout') {
          await this.postRollout(action.phase, checksum);
          continue;
        }
        await platform.apply(action);
        if (action.type === 'event') this.gates.sendEvent(action, next.status.phase, checksum);
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

  /**
   * A step, taken again with the answers of the gates it asks for until it asks for none (release/gates.ts).
   * Each try asks only for gates it has no answer for, so this ends within one try per gate type.
   */
  private async stepWithGates(seen: Observations, at: number): Promise<Step> {
    const { config } = this.options;
    const answers: GateAnswer[] = [];
    const checksum = seen.candidateRevision ?? this.current.candidateRevision ?? '';
    for (;;) {
      const next = step(this.current, { ...seen, gates: answers }, config, at);
      if (next.asks.length === 0) return next;
      this.assertMayAct(`calling the ${next.asks.join(', ')} gates`);
      answers.push(...(await this.gates.ask(next.asks, this.current.phase, checksum)));
    }
  }

  /** Post-rollout gates: a refusal is only reported, as a Warning Event, and the release ends as it was. */
  private async postRollout(phase: 'Succeeded' | 'Failed', checksum: string): Promise<void> {
    const answers = await this.gates.ask(['post-rollout'], phase, checksum);
    for (const answer of answers.filter((a) => !a.ok)) {
      const event = {
        type: 'event',
        kind: 'Warning',
        reason: 'PostRolloutFailed',
        message: `Post-rollout gate failed: ${describeAnswer(answer)}`,
      } as const;
      await this.options.platform.apply(event);
      this.gates.sendEvent(event, phase, checksum);
    }
  }

  /** Resolves once the Events sent to event gates so far have been answered (for tests and shutdown). */
  async eventsSent(): Promise<void> {
    await this.gates.eventsSent();
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

async function measure(
  options: RunnerOptions,
  status: ReleaseStatus,
  at: number,
  canaryTraffic: CanaryTraffic,
): Promise<Measurement> {
  const { provider, target, config, readConfigMap } = options;
  try {
    const metrics = await provider.measure({
      target,
      windowMs: config.intervalMs,
      quantiles: quantilesOf(config),
      at,
      canaryTraffic,
    });
    const context = { provider, config, target, status, readConfigMap, at };
    return { ok: true, metrics: await withTemplateMetrics(metrics, context) };
  } catch (err) {
    const error = err as { code?: string; message?: string };
    return { ok: false, error: { code: error.code ?? 'Unknown', message: error.message ?? String(err) } };
  }
}
