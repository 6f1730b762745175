import type { ManagedProcess } from './processes.js';

export interface EventuallyOptions {
  /** How long to keep trying [30 s]. */
  timeoutMs?: number;
  /**
   * The pause between tries. Unset, it starts at 20 ms and doubles up to 250 ms: a quick condition is seen
   * at once, and a long wait (a release on the control plane, checked with kubectl) costs little.
   */
  intervalMs?: number;
  /** A process the condition depends on: its exit fails the wait at once, with its last log lines. */
  process?: ManagedProcess;
}

/**
 * The one way tests wait: calls `check` until it returns something other than `undefined` or `false`, and
 * returns that. A check that throws is tried again; after `timeoutMs` the wait fails, naming `what`, with
 * the last error as its cause. Wait for the event that proves a thing happened or did not (a log line, a
 * served request, a written status), never for a fixed time.
 */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: EventuallyOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs, process } = options;
  let pause = intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    process?.assertRunning();
    try {
      const found = await check();
      if (found !== undefined && found !== false) return found;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const tail = process ? `; last log lines:\n${process.logTail()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${tail}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    if (intervalMs === undefined) pause = Math.min(pause * 2, 250);
  }
}
