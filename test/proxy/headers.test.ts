import { describe, expect, it } from 'vitest';
import { headBlock, requestHeaders, responseHeaders } from '../../proxy/headers.js';

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
    );
    expect(pairs(headers)).toEqual([
      ['X-Forwarded-Proto', 'https'],
      ['x-forwarded-for', '1.2.3.4, 10.0.0.7'],
    ]);
  });

  it('never lets Connection take away the body length, the Host or the headers the proxy sets', () => {
    const { headers } = requestHeaders(
      [
        'Host', 'x',
        'Content-Length', '5',
        'Connection', 'content-length, host',
        'Connection', 'x-forwarded-for, x-gone',
        'X-Gone', '1',
      ], // prettier-ignore
      '10.0.0.7',
    );
    expect(pairs(headers)).toEqual([
      ['Host', 'x'],
      ['Content-Length', '5'],
      ['x-forwarded-for', '10.0.0.7'],
      ['x-forwarded-proto', 'http'],
    ]);
  });

  it('keeps the framing and the expectation aside, for the proxy to answer and set again', () => {
    const forwarded = requestHeaders(
      ['Transfer-Encoding', 'gzip, chunked', 'Expect', '100-continue', 'x-sluice-hop', '1'],
      '10.0.0.7',
    );
    expect(forwarded.transferEncoding).toBe('gzip, chunked');
    expect(forwarded.expect).toBe('100-continue');
    expect(pairs(forwarded.headers)).toEqual([
      ['x-forwarded-for', '10.0.0.7'],
      ['x-forwarded-proto', 'http'],
    ]);
  });

  it('tells whether a body follows', () => {
    expect(requestHeaders(['Content-Length', '0'], undefined).hasBody).toBe(false);
    expect(requestHeaders(['Content-Length', '12'], undefined).hasBody).toBe(true);
    expect(requestHeaders(['Transfer-Encoding', 'chunked'], undefined).hasBody).toBe(true);
    expect(requestHeaders([], undefined).hasBody).toBe(false);
  });
});

describe('response headers towards the client', () => {
  it('drops hop-by-hop headers and says who answered', () => {
    const { headers, hasLength, transferEncoding } = responseHeaders(
      [
        'Content-Type',
        'text/plain',
        'Keep-Alive',
        'timeout=5',
        'Connection',
        'keep-alive',
        'Transfer-Encoding',
        'chunked',
      ],
      'local',
      'primary',
    );
    expect(pairs(headers)).toEqual([
      ['Content-Type', 'text/plain'],
      ['x-sluice-route', 'primary'],
    ]);
    expect(hasLength).toBe(false);
    expect(transferEncoding).toBe('chunked');
  });

  it('replaces the route header a canary proxy set, and tells a body framed by length', () => {
    const { headers, hasLength } = responseHeaders(
      ['x-sluice-route', 'canary', 'Content-Length', '2'],
      'canary',
      'primary',
    );
    expect(pairs(headers)).toEqual([
      ['Content-Length', '2'],
      ['x-sluice-route', 'canary'],
    ]);
    expect(hasLength).toBe(true);
  });

  it('reports a canary pod answering locally as the canary', () => {
    expect(pairs(responseHeaders([], 'local', 'canary').headers)).toEqual([['x-sluice-route', 'canary']]);
  });

  it('writes header lines and the blank line that ends a head', () => {
    expect(headBlock(['a', '1', 'B', 'two words'])).toBe('a: 1\r\nB: two words\r\n\r\n');
  });
});
