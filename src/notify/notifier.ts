import type { Logger } from '../log.js';
import { jsonBody, slackBody, teamsBody, type ReleaseNotice } from './notices.js';
import type { Format, Receiver } from './receivers.js';

/**
 * Posts release notices to the receivers, in the background: `notify` only queues, so a receiver that is
 * slow, down or never answers cannot hold up a release step. Each receiver has its own bounded queue and
 * one post in flight, so a dead one delays only its own messages; when its queue is full the oldest
 * message is dropped (the newest, a release's end, is the one people wait for). A post that fails is
 * logged and not retried. No log line carries a receiver's URL: it is a credential.
 */

export type PostResult = 'sent' | 'failed' | 'dropped';

export interface NotifierOptions {
  /** The receivers now; asked for each notice, so a changed Secret takes effect without a restart. */
  receivers: () => readonly Receiver[];
  logger: Logger;
  /** The most one post may take, connect to last byte [5 s]. */
  timeoutMs?: number;
  /** Messages waiting per receiver [100]. */
  queueSize?: number;
  onResult?: (receiver: Receiver, result: PostResult, notice: ReleaseNotice) => void;
}

const BODIES: Record<Format, (notice: ReleaseNotice) => unknown> = {
  slack: slackBody,
  teams: teamsBody,
  json: jsonBody,
};

interface Queue {
  readonly receiver: Receiver;
  readonly waiting: ReleaseNotice[];
  running: Promise<void> | null;
}

export class Notifier {
  private readonly queues = new Map<string, Queue>();
  private readonly timeoutMs: number;
  private readonly queueSize: number;

  constructor(private readonly options: NotifierOptions) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.queueSize = options.queueSize ?? 100;
  }

  /** Queues the notice for every receiver and returns at once. */
  notify(notice: ReleaseNotice): void {
    for (const receiver of this.options.receivers()) {
      const queue = this.queueOf(receiver);
      if (queue.waiting.length >= this.queueSize) {
        const dropped = queue.waiting.shift() as ReleaseNotice;
        this.report(receiver, dropped, 'dropped', `more than ${this.queueSize} messages waiting`);
      }
      queue.waiting.push(notice);
      queue.running ??= this.drain(queue);
    }
  }

  /** Resolves once every queued message has been posted or given up on: for tests and shutdown. */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.queues.values()].map((q) => q.running).filter((r) => r !== null);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  private queueOf(receiver: Receiver): Queue {
    // Keyed by the URL as well: a receiver whose URL changed in the Secret is a new one.
    const key = `${receiver.name} ${receiver.url.href}`;
    let queue = this.queues.get(key);
    if (queue === undefined) {
      queue = { receiver, waiting: [], running: null };
      this.queues.set(key, queue);
    }
    return queue;
  }

  private async drain(queue: Queue): Promise<void> {
    for (let notice = queue.waiting.shift(); notice !== undefined; notice = queue.waiting.shift()) {
      const failure = await this.post(queue.receiver, notice);
      if (failure === null) this.report(queue.receiver, notice, 'sent', null);
      else this.report(queue.receiver, notice, 'failed', failure);
    }
    queue.running = null;
  }

  /** Null when the receiver took it; else why not, in words that never include the URL. */
  private async post(receiver: Receiver, notice: ReleaseNotice): Promise<string | null> {
    try {
      const response = await fetch(receiver.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(BODIES[receiver.format](notice)),
        // A redirect would send the message to a URL no one put in the Secret.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await response.arrayBuffer();
      return response.ok ? null : `the receiver answered HTTP ${response.status}`;
    } catch (err) {
      return describeFailure(err, this.timeoutMs);
    }
  }

  private report(receiver: Receiver, notice: ReleaseNotice, result: PostResult, why: string | null): void {
    this.options.onResult?.(receiver, result, notice);
    const fields = {
      receiver: receiver.name,
      namespace: notice.namespace,
      deployment: notice.deployment,
      reason: notice.reason,
    };
    if (why === null) this.options.logger.debug(fields, 'notificationSent');
    else if (result === 'dropped') this.options.logger.warn({ ...fields, why }, 'notificationDropped');
    else this.options.logger.warn({ ...fields, why }, 'notificationFailed');
  }
}

/** The error's kind only: its message or cause may quote the address. */
function describeFailure(err: unknown, timeoutMs: number): string {
  const error = err as { name?: string; cause?: { code?: unknown } };
  if (error.name === 'TimeoutError' || error.name === 'AbortError') {
    return `no complete answer within ${timeoutMs} ms`;
  }
  const code = error.cause?.code;
  if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return `the connection failed (${code})`;
  return 'the request failed';
}
