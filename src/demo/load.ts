import { Agent, request } from 'undici';

/**
 * The demo's users: a steady open-loop stream of requests spread over the primary proxies (as a Service
 * would), plus a trickle carrying the test header. Bounded in rate, in-flight count, total count and time,
 * and refuses any target that is not on loopback.
 */

export interface LoadOptions {
  /** The proxies to spread requests over, round-robin. */
  targets: readonly string[];
  /** Requests per second of ordinary traffic. */
  rate: number;
  /** Requests per second that carry `testHeader`. */
  testRate: number;
  testHeader: { name: string; value: string };
  /**
   * Headers that put a request in the release's segment (`sluice.dev/segment`), sent with `share` (0 … 1)
   * of the ordinary requests, so that a segmented release has traffic to split.
   */
  segment?: { headers: Record<string, string>; share: number };
  maxRequests: number;
  maxDurationMs: number;
  /** More than this many requests waiting: the next ones are skipped, not queued. */
  maxInFlight?: number;
}

export interface LoadTotals {
  requests: number;
  failures: number;
  /** Answered by the canary (the proxy's `x-sluice-route: canary`). */
  canaryRequests: number;
  canaryFailures: number;
  testRequests: number;
  testCanaryRequests: number;
  testCanaryFailures: number;
  /** Ordinary requests that carried the segment's headers, and those of them the canary answered. */
  segmentRequests: number;
  segmentCanaryRequests: number;
  /** Not sent: too many requests were in flight. */
  skipped: number;
}

export class NotLoopbackError extends Error {
  readonly code = 'NotLoopback';
  constructor(readonly target: string) {
    super(`${target}: the demo's load generator only sends to 127.0.0.1, ::1 or localhost`);
    this.name = 'NotLoopbackError';
  }
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

export function assertLoopback(target: string): void {
  if (!URL.canParse(target) || !LOOPBACK.has(new URL(target).hostname)) throw new NotLoopbackError(target);
}

export interface LoadGenerator {
  totals(): Readonly<LoadTotals>;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<LoadTotals>;
  /** Resolves when a bound (count or time) is reached or stop() is called. */
  done: Promise<LoadTotals>;
}

const TICK_MS = 50;

/** Totals before the first request. */
export function noTotals(): LoadTotals {
  return {
    requests: 0,
    failures: 0,
    canaryRequests: 0,
    canaryFailures: 0,
    testRequests: 0,
    testCanaryRequests: 0,
    testCanaryFailures: 0,
    segmentRequests: 0,
    segmentCanaryRequests: 0,
    skipped: 0,
  };
}

export function startLoad(options: LoadOptions): LoadGenerator {
  for (const target of options.targets) assertLoopback(target);
  if (options.targets.length === 0) throw new RangeError('the load generator needs at least one target');
  const maxInFlight = options.maxInFlight ?? 256;
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });
  const totals = noTotals();
  const start = performance.now();
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let sentTest = 0;
  let next = 0;
  let stopped = false;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  // The ordinary request numbered `n` carries the segment's headers when it crosses a multiple of the share.
  const segmentShare = options.segment?.share ?? 0;
  const inSegment = (n: number): boolean => Math.floor((n + 1) * segmentShare) > Math.floor(n * segmentShare);

  const send = (test: boolean): void => {
    if (inFlight.size >= maxInFlight) {
      totals.skipped++;
      return;
    }
    const target = options.targets[next++ % options.targets.length] as string;
    const segment = !test && options.segment !== undefined && inSegment(sent);
    const headers: Record<string, string> = test
      ? { [options.testHeader.name]: options.testHeader.value }
      : segment
        ? { ...options.segment?.headers }
        : {};
    const done = request(`${target}/`, { headers, dispatcher: agent }).then(
      async (res) => {
        await res.body.dump();
        const canary = res.headers['x-sluice-route'] === 'canary';
        if (segment) totals.segmentRequests++;
        if (segment && canary) totals.segmentCanaryRequests++;
        count(test, canary, res.statusCode >= 500);
      },
      () => {
        if (segment) totals.segmentRequests++;
        count(test, false, true);
      },
    );
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };

  const count = (test: boolean, canary: boolean, failed: boolean): void => {
    totals.requests++;
    if (failed) totals.failures++;
    if (canary) totals.canaryRequests++;
    if (canary && failed) totals.canaryFailures++;
    if (test) totals.testRequests++;
    if (test && canary) totals.testCanaryRequests++;
    if (test && canary && failed) totals.testCanaryFailures++;
  };

  const timer = setInterval(() => {
    const elapsed = performance.now() - start;
    if (stopped || elapsed >= options.maxDurationMs || sent + sentTest >= options.maxRequests) {
      finish();
      return;
    }
    // Catch up to the rate since the start, so that a late tick does not lower it.
    const due = Math.floor((elapsed / 1000) * options.rate) - sent;
    const dueTest = Math.floor((elapsed / 1000) * options.testRate) - sentTest;
    for (let i = 0; i < due && sent + sentTest < options.maxRequests; i++, sent++) send(false);
    for (let i = 0; i < dueTest && sent + sentTest < options.maxRequests; i++, sentTest++) send(true);
  }, TICK_MS);

  let stopping: Promise<LoadTotals> | undefined;
  const stop = (): Promise<LoadTotals> => (stopping ??= halt());
  const halt = async (): Promise<LoadTotals> => {
    stopped = true;
    finish();
    await finished;
    clearInterval(timer);
    await Promise.allSettled([...inFlight]);
    await agent.close();
    return { ...totals };
  };

  return {
    totals: () => totals,
    stop,
    done: finished.then(() => ({ ...totals })),
  };
}
