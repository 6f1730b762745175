import { z } from 'zod';

/**
 * Gates: HTTP endpoints that hold, fail or roll back a release, with Flagger's webhook contract so that a
 * gate server written for Flagger (its load tester's `/gate/*` and `/rollback/*`) works unchanged. Users
 * list them in `sluice.dev/webhooks` (and the demo's `--webhooks`) as comma-separated `type=url`:
 *
 *   confirm-promotion=http://flagger-loadtester.test/gate/check,rollback=http://flagger-loadtester.test/rollback/check
 *
 * This file is the grammar; what each type does to a release is in release/gates.ts and the machine.
 */

/** Flagger's webhook types, in the order a release meets them. */
export const GATE_TYPES = [
  'confirm-rollout',
  'pre-rollout',
  'confirm-traffic-increase',
  'rollout',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
] as const;
export type GateType = (typeof GATE_TYPES)[number];

export interface Gate {
  readonly type: GateType;
  readonly url: string;
}

export const DEFAULT_GATE_TIMEOUT = '10s';

const GATE_FORMAT = `write type=url, comma-separated, e.g. confirm-promotion=http://gate.test/approve; types ${GATE_TYPES.join(', ')}`;

export class InvalidGateError extends Error {
  readonly code = 'InvalidGate';
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`"${input}": ${reason}; ${GATE_FORMAT}`);
    this.name = 'InvalidGateError';
  }
}

/** Parses one `type=url`; throws InvalidGateError. */
export function parseGate(input: string): Gate {
  const text = input.trim();
  const at = text.indexOf('=');
  if (at < 0) throw new InvalidGateError(input, 'no = between the type and the URL');
  const type = text.slice(0, at).trim().toLowerCase();
  const url = text.slice(at + 1).trim();
  if (!(GATE_TYPES as readonly string[]).includes(type)) {
    throw new InvalidGateError(input, `unknown type "${type}"`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidGateError(input, `"${url}" is not an absolute URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new InvalidGateError(input, `the URL must be http:// or https://, not ${parsed.protocol}//`);
  }
  return Object.freeze({ type: type as GateType, url });
}

/** The annotation's value: a list of gates, empty when the value is blank. */
export const gateListSchema = z.string().transform((text, ctx) => {
  const gates: Gate[] = [];
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    try {
      gates.push(parseGate(part));
    } catch (err) {
      if (!(err instanceof InvalidGateError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  }
  return gates;
});

export function formatGate(gate: Gate): string {
  return `${gate.type}=${gate.url}`;
}
