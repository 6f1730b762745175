import { readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { decodeCandidate } from '../../src/candidate.js';
import { MANAGED_ANNOTATIONS } from '../../src/annotations.js';
import { admit, type AdmitConfig, type NativeSidecarPolicy } from '../../webhook/admit.js';

const { candidate: CANDIDATE, candidateRevision: CANDIDATE_REVISION, promote: PROMOTE } = MANAGED_ANNOTATIONS;
import type { PatchOperation } from '../../webhook/patch.js';
import type { AdmissionRequest, Decision } from '../../webhook/review.js';
import { applyPatch, CONFIG, gvk, request, SEAL_KEY } from './support.js';

/**
 * Golden files (STYLE.md 6): each `test/fixtures/webhook/NAME.yaml` is a request, or a history of writes
 * ending in one, and `NAME.patch.json` the webhook's answer to the last. `UPDATE_GOLDEN=1` rewrites them.
 * Every allowed answer is also re-reviewed: the object it produces must get no further change. A fixture's
 * `webhook` is how the webhook that answers the last request was started (the writes before it were admitted
 * by one with the defaults), e.g. one upgraded to inject native sidecars.
 */

const DIR = new URL('../fixtures/webhook/', import.meta.url);
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

type Json = Record<string, unknown>;
interface Step {
  change?: PatchOperation[];
  promote?: boolean;
  username?: string;
  /** Stored as written, as when the webhook is unreachable and its failurePolicy is Ignore. */
  bypassWebhook?: boolean;
}
interface Fixture {
  description: string;
  kind?: string;
  operation?: AdmissionRequest['operation'];
  subResource?: string;
  username?: string;
  object?: Json;
  oldObject?: Json;
  stored?: Json;
  steps?: Step[];
  webhook?: { nativeSidecar?: NativeSidecarPolicy };
  /**
   * The answer leaves a change for the next write: a revert keeps the proxy where the stable ReplicaSet has
   * it, and the next write moves it. Re-reviewed, such an answer changes once more, then no further.
   */
  deferred?: boolean;
}

function answer(req: AdmissionRequest): Decision {
  return admit(req, CONFIG);
}

function mustAllow(decision: Decision): PatchOperation[] {
  if (!decision.allowed) throw new Error(`denied: ${decision.denial.message}`);
  return decision.patch;
}

/**
 * The controller's promotion write: a held Deployment unpaused with the marker of the revision its spec
 * already carries; a held config's data written back with the marker.
 */
function promotion(stored: Json): Json {
  const out = structuredClone(stored) as Json & { metadata: { annotations: Record<string, string> } };
  const annotations = out.metadata.annotations;
  const payload = annotations[CANDIDATE];
  if (payload === undefined) {
    annotations[PROMOTE] = annotations[CANDIDATE_REVISION] as string;
    (out['spec'] as Json)['paused'] = false;
    return out;
  }
  const held = decodeCandidate(payload, SEAL_KEY) as Json;
  annotations[PROMOTE] = held['revision'] as string;
  out['data'] = held['data'];
  out['binaryData'] = held['binaryData'];
  return out;
}

/** The last request of a fixture, with the writes before it admitted and stored. */
function lastRequest(fixture: Fixture): AdmissionRequest {
  const kind = gvk(fixture.kind ?? 'Deployment');
  if (fixture.stored === undefined) {
    return request({
      kind,
      operation: fixture.operation ?? 'CREATE',
      userInfo: { username: fixture.username ?? 'alice' },
      ...(fixture.subResource !== undefined && { subResource: fixture.subResource }),
      ...(fixture.object !== undefined && { object: fixture.object }),
      ...(fixture.oldObject !== undefined && { oldObject: fixture.oldObject }),
    });
  }
  let stored = applyPatch(
    fixture.stored,
    mustAllow(answer(request({ kind, operation: 'CREATE', object: fixture.stored }))),
  );
  const steps = fixture.steps ?? [];
  for (const [i, step] of steps.entries()) {
    const object = step.promote ? promotion(stored) : applyPatch(stored, step.change ?? []);
    const req = request({
      kind,
      operation: 'UPDATE',
      object,
      oldObject: stored,
      userInfo: { username: step.username ?? 'alice' },
    });
    if (i === steps.length - 1) return req;
    stored = step.bypassWebhook === true ? object : applyPatch(object, mustAllow(answer(req)));
  }
  throw new Error('a fixture with stored needs at least one step');
}

/** The candidate the answer stores, decoded, so that the golden files show what is held. */
function heldPayload(req: AdmissionRequest, decision: Decision): unknown {
  if (!decision.allowed) return undefined;
  const annotationsOf = (o: unknown) =>
    (o as { metadata?: { annotations?: Record<string, string> } } | undefined)?.metadata?.annotations ?? {};
  const before = annotationsOf(req.object)[CANDIDATE];
  const after = annotationsOf(applyPatch(req.object, decision.patch))[CANDIDATE];
  return after === undefined || after === before ? undefined : decodeCandidate(after, SEAL_KEY);
}

function golden(decision: Decision): unknown {
  if (decision.allowed) return decision.patch;
  const { denial } = decision;
  return { denied: denial.code, status: denial.status, message: denial.message };
}

function compare(file: URL, actual: unknown): void {
  if (UPDATE) {
    if (actual === undefined) rmSync(file, { force: true });
    else writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
    return;
  }
  if (actual === undefined) {
    expect(existsSync(file), `${file.pathname} should not exist`).toBe(false);
    return;
  }
  expect(existsSync(file), `${file.pathname} is missing: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(actual).toEqual(JSON.parse(readFileSync(file, 'utf8')));
}

const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -'.yaml'.length))
  .sort();

describe('the webhook, fixture by fixture', () => {
  it('has fixtures', () => expect(names.length).toBeGreaterThan(20));

  for (const name of names) {
    const fixture = parseYaml(readFileSync(new URL(`${name}.yaml`, DIR), 'utf8')) as Fixture;
    describe(`${name}: ${fixture.description}`, () => {
      const req = lastRequest(fixture);
      const config: AdmitConfig = { ...CONFIG, ...fixture.webhook };
      const review = (r: AdmissionRequest) => admit(r, config);
      const decision = review(req);

      it('answers as the golden file says', () => {
        compare(new URL(`${name}.patch.json`, DIR), golden(decision));
        compare(new URL(`${name}.candidate.json`, DIR), heldPayload(req, decision));
      });

      // A patch whose operations differ from the golden one (another diff, another order) is still right
      // when it turns the request's object into the same one: this tells the two failures apart.
      if (decision.allowed && !UPDATE) {
        it('admits the object the golden patch admits', () => {
          const file = new URL(`${name}.patch.json`, DIR);
          const patch = JSON.parse(readFileSync(file, 'utf8')) as PatchOperation[];
          expect(applyPatch(req.object, decision.patch)).toEqual(applyPatch(req.object, patch));
        });
      }

      it('gives the same answer for a dry run', () => {
        expect(review({ ...req, dryRun: true })).toEqual(decision);
      });

      if (decision.allowed) {
        it('changes nothing more when the result is reviewed again', () => {
          const reviewAgain = (object: unknown) =>
            review({ ...req, object, ...(req.operation === 'UPDATE' && { oldObject: object }) });
          let mutated = applyPatch(req.object, decision.patch);
          if (fixture.deferred === true) {
            const next = reviewAgain(mutated);
            expect(mustAllow(next)).not.toEqual([]);
            mutated = applyPatch(mutated, mustAllow(next));
          }
          expect(reviewAgain(mutated)).toEqual({ allowed: true, patch: [] });
        });
      }
    });
  }
});
