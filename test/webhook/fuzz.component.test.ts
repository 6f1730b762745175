import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admit } from '../../webhook/admit.js';
import { jsonFuzzer } from '../support/json-fuzz.js';
import { seededRandom } from '../support/random.js';
import { send, spawnWebhook, webhookAgent, type WebhookProcess } from './client.js';
import { applyPatch, CONFIG, CONTROLLER, deployment, gvk, request } from './support.js';

/**
 * Random and mutated reviews against the real server: each must get a well-formed AdmissionReview or a 400
 * with a JSON reason, and the server must stay up. Seeded, so that a failure can be replayed.
 */

const CASES = 10_000;
const CONCURRENCY = 48;
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261122);

function seeds(): unknown[] {
  const object = deployment();
  const created = admit(request({ operation: 'CREATE', object }), CONFIG);
  if (!created.allowed) throw new Error('seed denied');
  const stored = applyPatch(object, created.patch);
  const changed = structuredClone(stored);
  changed.spec.template.spec.containers = changed.spec.template.spec.containers.map((c) => ({
    ...c,
    image: 'example/podinfo:2',
  }));
  const held = admit(request({ operation: 'UPDATE', object: changed, oldObject: stored }), CONFIG);
  if (!held.allowed) throw new Error('seed denied');
  const heldStored = applyPatch(changed, held.patch);
  const tracked = {
    metadata: { name: 'c', namespace: 'shop', labels: { 'sluice.dev/tracked': 'true' } },
    data: { a: 'eA==' },
  };
  return [
    request({ operation: 'CREATE', object }),
    request({ operation: 'UPDATE', object: changed, oldObject: stored }),
    request({
      operation: 'UPDATE',
      object: heldStored,
      oldObject: heldStored,
      userInfo: { username: CONTROLLER },
    }),
    request({
      kind: gvk('ConfigMap'),
      operation: 'UPDATE',
      object: { ...tracked, data: { a: 'y' } },
      oldObject: tracked,
    }),
    request({
      kind: gvk('Secret'),
      operation: 'UPDATE',
      object: { ...tracked, data: { a: 'eQ==' } },
      oldObject: tracked,
    }),
    request({ operation: 'DELETE', oldObject: stored }),
  ].map((req) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req }));
}

describe('the webhook under fuzzing', () => {
  let webhook: WebhookProcess;
  beforeAll(async () => {
    webhook = await spawnWebhook();
  });
  afterAll(() => webhook.stop());

  it(`answers ${CASES} random and mutated reviews with a review or a 400, and stays up`, async () => {
    const random = seededRandom(SEED);
    const { pick, value, mutate } = jsonFuzzer(random);
    const bases = seeds();
    const agent = webhookAgent(webhook.ca, CONCURRENCY);
    const outcomes = new Map<string, number>();
    const failures: string[] = [];
    let next = 0;

    const body = (): string => {
      const roll = random();
      if (roll < 0.7) return JSON.stringify(mutate(pick(bases)));
      if (roll < 0.8) return JSON.stringify(value());
      const whole = JSON.stringify(pick(bases));
      if (roll < 0.9) return whole.slice(0, Math.floor(random() * whole.length));
      return Buffer.from(
        Array.from({ length: Math.floor(random() * 200) }, () => Math.floor(random() * 256)),
      ).toString('latin1');
    };

    const worker = async (): Promise<void> => {
      while (next < CASES) {
        const i = next++;
        const sent = body();
        const reply = await send(agent, webhook.port, 'POST', '/mutate', sent);
        let verdict: string;
        try {
          const parsed = JSON.parse(reply.body) as Record<string, unknown>;
          if (reply.status === 400 && typeof parsed['reason'] === 'string') verdict = '400';
          else if (reply.status === 200) verdict = checkReview(sent, parsed);
          else verdict = `unexpected ${reply.status}`;
        } catch {
          verdict = `unparsable ${reply.status}`;
        }
        outcomes.set(verdict, (outcomes.get(verdict) ?? 0) + 1);
        if (!['400', 'allowed', 'patched', 'denied'].includes(verdict) && failures.length < 5) {
          failures.push(
            `case ${i} (seed ${SEED}): ${verdict}: ${sent.slice(0, 300)} → ${reply.body.slice(0, 300)}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    expect(failures).toEqual([]);
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(CASES);
    expect(outcomes.get('400')).toBeGreaterThan(0);
    expect((outcomes.get('allowed') ?? 0) + (outcomes.get('patched') ?? 0)).toBeGreaterThan(0);
    expect((await send(agent, webhook.port, 'GET', '/livez')).status).toBe(200);
    expect(webhook.child.exitCode).toBeNull();
    agent.destroy();
  }, 60_000);
});

function checkReview(sent: string, body: Record<string, unknown>): string {
  const uid = (JSON.parse(sent) as { request: { uid: string } }).request.uid;
  const response = body['response'] as Record<string, unknown> | undefined;
  if (
    body['apiVersion'] !== 'admission.k8s.io/v1' ||
    body['kind'] !== 'AdmissionReview' ||
    response === undefined
  )
    return 'not a review';
  if (response['uid'] !== uid || typeof response['allowed'] !== 'boolean') return 'wrong uid or allowed';
  if (!response['allowed']) {
    const status = response['status'] as { message?: unknown } | undefined;
    return typeof status?.message === 'string' ? 'denied' : 'denial without message';
  }
  if (response['patch'] === undefined) return 'allowed';
  const patch = JSON.parse(Buffer.from(response['patch'] as string, 'base64').toString('utf8')) as unknown;
  return Array.isArray(patch) && response['patchType'] === 'JSONPatch' ? 'patched' : 'bad patch';
}
