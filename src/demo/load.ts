import { Agent, request } from 'undici';

export interface LoadTally {
  requests: number;
  canaryRequests: number;
  canaryFailures: number;
  failures: number;
  /** `traffic: test` requests, and how many of them the candidate answered. */
  testRequests: number;
  testToCandidate: number;
}

export interface Load {
  readonly tally: LoadTally;
  stop(): Promise<void>;
}

/**
 * Steady traffic at `rps` spread over the Service's ports, plus one `traffic: test` request every
 * `testEveryMs`. In-flight requests are capped so that a slow canary cannot pile them up.
 */
export function startLoad(options: {
  ports: () => readonly number[];
  rps: number;
  testEveryMs: number;
  testHeader: Record<string, string>;
  candidateVersion: string;
}): Load {
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64 });
  const tally: LoadTally = {
    requests: 0,
    canaryRequests: 0,
    canaryFailures: 0,
    failures: 0,
    testRequests: 0,
    testToCandidate: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const maxInFlight = 256;
  let next = 0;

  const send = (test: boolean): void => {
    const ports = options.ports();
    if (ports.length === 0 || inFlight.size >= maxInFlight) return;
    const port = ports[next++ % ports.length] as number;
    const sent = request(`http://127.0.0.1:${port}/`, {
      dispatcher: agent,
      headers: test ? options.testHeader : {},
    })
      .then(async (res) => {
        await res.body.dump();
        tally.requests++;
        const canary = res.headers['x-sluice-route'] === 'canary';
        if (res.statusCode >= 500) tally.failures++;
        if (canary) {
          tally.canaryRequests++;
          if (res.statusCode >= 500) tally.canaryFailures++;
        }
        if (test) {
          tally.testRequests++;
          if (res.headers['x-app-version'] === options.candidateVersion) tally.testToCandidate++;
        }
      })
      .catch(() => {
        tally.requests++;
        tally.failures++;
      })
      .finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  };

  const TICK_MS = 20;
  let owed = 0;
  const steady = setInterval(() => {
    owed += (options.rps * TICK_MS) / 1000;
    for (; owed >= 1; owed--) send(false);
  }, TICK_MS);
  const trickle = setInterval(() => send(true), options.testEveryMs);

  return {
    tally,
    async stop() {
      clearInterval(steady);
      clearInterval(trickle);
      await Promise.allSettled([...inFlight]);
      await agent.close();
    },
  };
}
