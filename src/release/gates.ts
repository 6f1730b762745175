import type { Gate, GateType } from '../gates.js';

/**
 * What the machine makes of gate answers. Like metrics, gates are observations: the machine never calls
 * one. When a step reaches a gate it has no answer for, it names the gate type in `Step.asks` and stops; the
 * driver calls those gates and takes the same step again with their answers (runner.ts). So the machine
 * stays pure, and a gate is called only at the point where Flagger calls it:
 *
 * - confirm-rollout: before the canary is created; refused, the release waits in phase `Waiting`.
 * - pre-rollout: before the first route to the canary; refused, a failed check.
 * - confirm-traffic-increase: before each weight increase; refused, the weight stays, no failed check.
 * - rollout: at each check, before the metrics; refused, a failed check.
 * - confirm-promotion: before promotion; refused, phase `WaitingPromotion` while checks go on.
 * - rollback: at each check, and each interval while waiting; a 2xx answer rolls the release back.
 * - post-rollout: after promotion or rollback; a refusal is only reported (an action, not an observation).
 * - event: every Event the release emits (sent by the driver).
 */

/** One gate's answer to one call. */
export interface GateAnswer {
  readonly type: GateType;
  readonly url: string;
  /** The gate answered 2xx. */
  readonly ok: boolean;
  /** What it answered, for Events: `HTTP 403: Forbidden`, `no answer within 10s`, `ECONNREFUSED`. */
  readonly detail: string;
}

/** The gate types the machine calls on the way (post-rollout and event are not asked, only sent). */
export type AskedGateType = Exclude<GateType, 'post-rollout' | 'event'>;

/** All the gates of one type together: open when every one answered 2xx (rollback: when any did). */
export type Verdict =
  | { readonly state: 'open'; readonly answer?: GateAnswer }
  | { readonly state: 'closed'; readonly answer: GateAnswer }
  | { readonly state: 'unasked' };

export function verdict(
  type: AskedGateType,
  gates: readonly Gate[],
  answers: readonly GateAnswer[],
): Verdict {
  const wanted = gates.filter((g) => g.type === type);
  // No rollback gate is a rollback gate that never signals; no other gate is one always open.
  if (wanted.length === 0) return type === 'rollback' ? { state: 'closed', answer: NONE } : { state: 'open' };
  const got = answers.filter((a) => a.type === type);
  if (got.length < wanted.length) return { state: 'unasked' };
  if (type === 'rollback') {
    const signal = got.find((a) => a.ok);
    return signal === undefined ? { state: 'closed', answer: NONE } : { state: 'open', answer: signal };
  }
  const refused = got.find((a) => !a.ok);
  return refused === undefined ? { state: 'open' } : { state: 'closed', answer: refused };
}

const NONE: GateAnswer = { type: 'rollback', url: '', ok: false, detail: 'no rollback gate' };

/** `confirm-promotion gate http://… answered HTTP 403: Forbidden`, for Events and status. */
export function describeAnswer(answer: GateAnswer): string {
  return `${answer.type} gate ${answer.url} answered ${answer.detail}`;
}
