import { request } from 'undici';
import { formatDuration } from '../duration.js';
import type { Gate, GateType } from '../gates.js';
import type { Logger } from '../log.js';
import type { ReleaseTarget } from '../metrics/provider.js';
import type { GateAnswer } from './gates.js';
import type { EventReason, Phase } from './status.js';

/**
 * Calls gates with Flagger's webhook contract: a POST of `{name, namespace, phase, checksum, metadata}`
 * (JSON; `checksum` is the candidate revision), where any 2xx answer passes and anything else, no answer
 * within the timeout included, does not. The edge of release/gates.ts: it only translates.
 */

export interface GatePayload {
  readonly name: string;
  readonly namespace: string;
  readonly phase: Phase;
  readonly checksum: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** What a gate's answer body may add to an Event, at most. */
const DETAIL_CHARS = 200;

export async function callGate(gate: Gate, payload: GatePayload, timeoutMs: number): Promise<GateAnswer> {
  const answer = (ok: boolean, detail: string): GateAnswer => ({
    type: gate.type,
    url: gate.url,
    ok,
    detail,
  });
  try {
    const res = await request(gate.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await res.body.text()).trim().replace(/\s+/g, ' ').slice(0, DETAIL_CHARS);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return answer(ok, `HTTP ${res.statusCode}${text === '' ? '' : `: ${text}`}`);
  } catch (err) {
    const error = err as { name?: string; code?: string; message?: string };
    if (error.name === 'TimeoutError' || error.name === 'AbortError') {
      return answer(false, `no answer within ${formatDuration(timeoutMs)}`);
    }
    return answer(false, error.code ?? error.message ?? String(err));
  }
}

/** One release's gates, as its driver calls them. */
export class GateClient {
  /** Events go out in order, one after the other, without holding up the step that emitted them. */
  private events: Promise<void> = Promise.resolve();

  constructor(
    private readonly gates: readonly Gate[],
    private readonly timeoutMs: number,
    private readonly target: ReleaseTarget,
    private readonly logger: Logger,
  ) {}

  /**
   * Calls every gate of the given types at once. As Flagger does, the payload's phase is the release's
   * phase for rollback and post-rollout gates, and `Progressing` for the gates on the way.
   */
  async ask(types: readonly GateType[], phase: Phase, checksum: string): Promise<GateAnswer[]> {
    const gates = this.gates.filter((g) => types.includes(g.type));
    return Promise.all(
      gates.map((gate) => {
        const told = gate.type === 'rollback' || gate.type === 'post-rollout' ? phase : 'Progressing';
        return this.call(gate, told, checksum, {});
      }),
    );
  }

  /** Sends one Event to the event gates; their answers are only logged. */
  sendEvent(
    event: { kind: 'Normal' | 'Warning'; reason: EventReason; message: string },
    phase: Phase,
    checksum: string,
  ): void {
    const metadata = {
      eventMessage: event.message,
      eventType: event.kind,
      eventReason: event.reason,
      timestamp: String(Date.now()),
    };
    for (const gate of this.gates.filter((g) => g.type === 'event')) {
      this.events = this.events.then(async () => {
        await this.call(gate, phase, checksum, metadata);
      });
    }
  }

  /** Resolves once every Event sent so far has had its answer (or timed out). */
  async eventsSent(): Promise<void> {
    await this.events;
  }

  private async call(
    gate: Gate,
    phase: Phase,
    checksum: string,
    metadata: Record<string, string>,
  ): Promise<GateAnswer> {
    const payload = {
      name: this.target.deployment,
      namespace: this.target.namespace,
      phase,
      checksum,
      metadata,
    };
    const answer = await callGate(gate, payload, this.timeoutMs);
    this.logger.info(
      { ...this.target, gate: gate.type, url: gate.url, ok: answer.ok, detail: answer.detail },
      'gateCalled',
    );
    return answer;
  }
}
