import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { callGate, GateClient, type GatePayload } from '../../src/release/gate-client.js';

// The gate client against real HTTP servers on loopback: what it sends, and what it makes of each answer.

interface GateServer {
  url: string;
  bodies: unknown[];
  close(): Promise<void>;
}

const servers: GateServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A gate that answers `status` with `body`, or never answers when status is null. */
async function startGate(status: number | null, body = ''): Promise<GateServer> {
  const bodies: unknown[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      bodies.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(text) });
      if (status !== null) res.writeHead(status).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const gate = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/gate/check`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(gate);
  return gate;
}

const payload: GatePayload = {
  name: 'podinfo',
  namespace: 'shop',
  phase: 'Progressing',
  checksum: '3f2a9c01bd',
  metadata: {},
};

describe('calling a gate', () => {
  it("POSTs Flagger's payload as JSON and passes on a 2xx", async () => {
    const gate = await startGate(202, 'Accepted');
    const answer = await callGate({ type: 'confirm-promotion', url: gate.url }, payload, 2_000);
    expect(answer).toEqual({
      type: 'confirm-promotion',
      url: gate.url,
      ok: true,
      detail: 'HTTP 202: Accepted',
    });
    expect(gate.bodies).toEqual([{ method: 'POST', contentType: 'application/json', body: payload }]);
  });

  it('fails on any other status, with the start of the body for the Event', async () => {
    const gate = await startGate(403, 'Forbidden\n');
    const answer = await callGate({ type: 'rollout', url: gate.url }, payload, 2_000);
    expect(answer).toMatchObject({ ok: false, detail: 'HTTP 403: Forbidden' });
    const long = await startGate(500, 'x'.repeat(5_000));
    const cut = await callGate({ type: 'rollout', url: long.url }, payload, 2_000);
    expect(cut.detail.length).toBeLessThan(220);
  });

  it('fails when the gate does not answer within the timeout', async () => {
    const gate = await startGate(null);
    const answer = await callGate({ type: 'pre-rollout', url: gate.url }, payload, 300);
    expect(answer).toMatchObject({ ok: false, detail: 'no answer within 300ms' });
  });

  it('fails when nothing listens', async () => {
    const gate = await startGate(200);
    await gate.close();
    const answer = await callGate({ type: 'rollback', url: gate.url }, payload, 2_000);
    expect(answer).toMatchObject({ ok: false, detail: 'ECONNREFUSED' });
  });
});

describe('a release’s gates', () => {
  const target = { namespace: 'shop', deployment: 'podinfo' };
  const logger = createLogger('test', 'silent');

  it('calls every gate of the asked types, and only those', async () => {
    const a = await startGate(200);
    const b = await startGate(403);
    const other = await startGate(200);
    const client = new GateClient(
      [
        { type: 'rollout', url: a.url },
        { type: 'rollout', url: b.url },
        { type: 'confirm-promotion', url: other.url },
      ],
      2_000,
      target,
      logger,
    );
    const answers = await client.ask(['rollout'], 'Progressing', 'bbb');
    expect(answers.map((x) => x.ok)).toEqual([true, false]);
    expect(other.bodies).toEqual([]);
  });

  it("tells rollback and post-rollout gates the release's phase, and the others Progressing, as Flagger", async () => {
    const gate = await startGate(200);
    const client = new GateClient(
      [
        { type: 'confirm-promotion', url: gate.url },
        { type: 'rollback', url: gate.url },
      ],
      2_000,
      target,
      logger,
    );
    await client.ask(['confirm-promotion'], 'WaitingPromotion', 'bbb');
    await client.ask(['rollback'], 'WaitingPromotion', 'bbb');
    const phases = gate.bodies.map((x) => (x as { body: GatePayload }).body.phase);
    expect(phases).toEqual(['Progressing', 'WaitingPromotion']);
  });

  it('sends each Event to the event gates in order, with its message, type and reason', async () => {
    const events = await startGate(200);
    const client = new GateClient([{ type: 'event', url: events.url }], 2_000, target, logger);
    client.sendEvent({ kind: 'Normal', reason: 'CanaryStarted', message: 'first' }, 'Progressing', 'bbb');
    client.sendEvent({ kind: 'Warning', reason: 'CheckFailed', message: 'second' }, 'Progressing', 'bbb');
    await client.eventsSent();
    const bodies = events.bodies.map((x) => (x as { body: GatePayload }).body);
    expect(bodies.map((x) => x.metadata)).toEqual([
      expect.objectContaining({ eventMessage: 'first', eventType: 'Normal', eventReason: 'CanaryStarted' }),
      expect.objectContaining({ eventMessage: 'second', eventType: 'Warning', eventReason: 'CheckFailed' }),
    ]);
    expect(bodies[0]).toMatchObject({
      name: 'podinfo',
      namespace: 'shop',
      phase: 'Progressing',
      checksum: 'bbb',
    });
  });
});
