import { describe, expect, it } from 'vitest';
import { parseCanaryAnnotations } from '../src/annotations.js';
import { InvalidGateError, parseGate } from '../src/gates.js';

const parse = (annotations: Record<string, string>) =>
  parseCanaryAnnotations({ 'sluice.dev/canary': 'enabled', ...annotations });

describe('sluice.dev/webhooks', () => {
  it('reads comma-separated type=url gates in the order written, with a 10s timeout by default', () => {
    const result = parse({
      'sluice.dev/webhooks':
        'confirm-promotion=http://flagger-loadtester.test/gate/check, rollback=https://gate.test:8443/rollback/check,' +
        'event=http://10.0.0.1/events',
    });
    expect(result.ok && result.config.gates).toEqual([
      { type: 'confirm-promotion', url: 'http://flagger-loadtester.test/gate/check' },
      { type: 'rollback', url: 'https://gate.test:8443/rollback/check' },
      { type: 'event', url: 'http://10.0.0.1/events' },
    ]);
    expect(result.ok && result.config.gateTimeoutMs).toBe(10_000);
  });

  it('has no gates when absent, and takes sluice.dev/webhook-timeout', () => {
    const result = parse({ 'sluice.dev/webhook-timeout': '30s' });
    expect(result.ok && result.config.gates).toEqual([]);
    expect(result.ok && result.config.gateTimeoutMs).toBe(30_000);
  });

  it('allows several gates of one type', () => {
    const result = parse({ 'sluice.dev/webhooks': 'rollout=http://a.test/,rollout=http://b.test/' });
    expect(result.ok && result.config.gates.map((g) => g.url)).toEqual(['http://a.test/', 'http://b.test/']);
  });

  it.each([
    ['confirm-promotion http://gate.test/', 'no = between the type and the URL'],
    ['approve=http://gate.test/', 'unknown type "approve"'],
    ['rollout=gate.test/check', '"gate.test/check" is not an absolute URL'],
    ['rollout=ftp://gate.test/', 'the URL must be http:// or https://, not ftp://'],
  ])('refuses %s, naming the fix', (input, reason) => {
    expect(() => parseGate(input)).toThrow(InvalidGateError);
    expect(() => parseGate(input)).toThrow(reason);
    const result = parse({ 'sluice.dev/webhooks': input });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors[0]?.annotation).toBe('sluice.dev/webhooks');
      expect(result.errors[0]?.message).toContain('types confirm-rollout, pre-rollout');
    }
  });

  it('refuses a webhook-timeout that is not a duration', () => {
    const result = parse({ 'sluice.dev/webhook-timeout': 'ten' });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.errors[0]?.message).toContain('sluice.dev/webhook-timeout: "ten" is not valid');
  });
});
