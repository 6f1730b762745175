import { describe, expect, it } from 'vitest';
import { parseRounds } from '../support/gitops.js';

// flux-apply's output as the e2e helpers read it: from its stdout, or from a loop's log, which its stderr
// shares.

describe('parseRounds', () => {
  it("groups each round's objects, closed by the round's last line", () => {
    const output = [
      '{"action":"created","object":"Namespace/shop","round":1}',
      '{"action":"created","object":"Deployment/shop/web","round":1}',
      '{"objects":2,"round":1}',
      '{"action":"unchanged","object":"Namespace/shop","round":2}',
      '{"action":"unchanged","object":"Deployment/shop/web","round":2}',
      '{"objects":2,"round":2}',
      '',
    ].join('\n');
    expect(parseRounds(output)).toEqual([
      {
        round: 1,
        actions: [
          { object: 'Namespace/shop', action: 'created' },
          { object: 'Deployment/shop/web', action: 'created' },
        ],
      },
      {
        round: 2,
        actions: [
          { object: 'Namespace/shop', action: 'unchanged' },
          { object: 'Deployment/shop/web', action: 'unchanged' },
        ],
      },
    ]);
  });

  it("keeps a failed round's error and the objects applied before it", () => {
    const output = [
      '{"action":"unchanged","object":"Namespace/shop","round":3}',
      '{"error":"Deployment/shop/web dry-run failed: denied","objects":1,"round":3}',
    ].join('\n');
    expect(parseRounds(output)).toEqual([
      {
        round: 3,
        actions: [{ object: 'Namespace/shop', action: 'unchanged' }],
        error: 'Deployment/shop/web dry-run failed: denied',
      },
    ]);
  });

  it('skips stderr text and leaves out a round not yet closed', () => {
    const output = [
      'flux-apply: round 1: the server could not find the requested resource',
      '{"error":"the server could not find the requested resource","objects":0,"round":1}',
      'W1207 01:00:00.000000 1 warnings.go:70] a warning',
      '{"action":"configured","object":"Deployment/shop/web","round":2}',
    ].join('\n');
    expect(parseRounds(output)).toEqual([
      { round: 1, actions: [], error: 'the server could not find the requested resource' },
    ]);
  });
});
