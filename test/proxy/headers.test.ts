import { describe, expect, it } from 'vitest';
import { requestHeaders, responseHeaders } from '../../proxy/headers.js';

const pairs = (flat: string[]) => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
};

describe('request headers towards an upstream', () => {
  it('drops hop-by-hop headers and those the Connection header names', () => {
    const { headers } = requestHeaders(
      [
        'Host', 'podinfo',
        'Connection', 'keep-alive, X-Secret-Hop',
        'Keep-Alive', 'timeout=5',
        'X-Secret-Hop', 'x',
        'Upgrade', 'h2c',
        'TE', 'trailers',
        'Expect', '100-continue',
        'X-Sluice-Hop', '1',
        'Accept', '*/*',
      ], // prettier-ignore
      '10.0.0.7',
      false,
    );
    expect(pairs(headers)).toEqual([
      ['Host', 'podinfo'],
      ['Accept', '*/*'],
      ['x-forwarded-for', '10.0.0.7'],
      ['x-forwarded-proto', 'http'],
    ]);
  });

  it('appends the client to X-Forwarded-For and keeps X-Forwarded-Proto', () => {
    const { headers } = requestHeaders(
      ['X-Forwarded-For', '1.2.3.4', 'X-Forwarded-Proto', 'https'],
      '10.0.0.7',
      false,
    );
    expect(pairs(headers)).toEqual([
      ['X-Forwarded-Proto', 'https'],
      ['x-forwarded-for', '1.2.3.4, 10.0.0.7'],
    ]);
  });

  it('marks requests to the canary with the hop header', () => {
    const { headers } = requestHeaders([], '10.0.0.7', true);
    expect(pairs(headers)).toContainEqual(['x-sluice-hop', '1']);
  });

  it('tells whether a body follows', () => {
    expect(requestHeaders(['Content-Length', '0'], undefined, false).hasBody).toBe(false);
    expect(requestHeaders(['Content-Length', '12'], undefined, false).hasBody).toBe(true);
    expect(requestHeaders(['Transfer-Encoding', 'chunked'], undefined, false).hasBody).toBe(true);
    expect(requestHeaders([], undefined, false).hasBody).toBe(false);
  });
});

describe('response headers towards the client', () => {
  const raw = (flat: string[]) => flat.map((s) => Buffer.from(s, 'latin1'));

  it('drops hop-by-hop headers and says who answered', () => {
    const headers = responseHeaders(
      raw([
        'Content-Type',
        'text/plain',
        'Keep-Alive',
        'timeout=5',
        'Connection',
        'keep-alive',
        'Transfer-Encoding',
        'chunked',
      ]),
      'local',
      'primary',
      false,
    );
    expect(pairs(headers)).toEqual([
      ['Content-Type', 'text/plain'],
      ['x-sluice-route', 'primary'],
    ]);
  });

  it('replaces the route header a canary proxy set, and closes the connection while draining', () => {
    const headers = responseHeaders(raw(['x-sluice-route', 'canary']), 'canary', 'primary', true);
    expect(pairs(headers)).toEqual([
      ['x-sluice-route', 'canary'],
      ['connection', 'close'],
    ]);
  });

  it('reports a canary pod answering locally as the canary', () => {
    expect(pairs(responseHeaders([], 'local', 'canary', false))).toEqual([['x-sluice-route', 'canary']]);
  });
});
