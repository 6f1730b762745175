import { describe, expect, it } from 'vitest';
import { formatMatch, InvalidMatchError, parseMatch, parseMatchList } from '../src/match.js';

describe('header matches in annotation syntax', () => {
  it('reads an exact header match, lower-casing the header name', () => {
    expect(parseMatch('Traffic=test')).toEqual({ header: 'traffic', exact: 'test' });
  });

  it('reads a regex header match', () => {
    expect(parseMatch('x-user~^qa-')).toEqual({ header: 'x-user', regex: '^qa-' });
  });

  it('reads a cookie match', () => {
    expect(parseMatch('cookie:canary=always')).toEqual({ cookie: 'canary', exact: 'always' });
  });

  it('reads a comma-separated list and skips empty entries', () => {
    expect(parseMatchList('traffic=test, country=wakanda,')).toEqual([
      { header: 'traffic', exact: 'test' },
      { header: 'country', exact: 'wakanda' },
    ]);
  });

  it.each(['traffic', '=test', 'x-user~(unclosed', 'bad header=1', 'cookie:=x'])('rejects %j', (text) => {
    expect(() => parseMatch(text)).toThrow(InvalidMatchError);
  });

  it.each([
    ['x-user~^(?=qa)', 'lookahead and lookbehind are not supported'],
    ['x-user~(?<!a)b', 'lookahead and lookbehind are not supported'],
    ['x-user~(a)\\1', 'backreferences are not supported'],
    ['x-user~\\u0041', 'write a code point as \\x{41}'],
    ['x-user~[^]', 'write (?s:.) for any character'],
    ['x-user~a{1001}', 'invalid repeat count'],
  ])('refuses %j, which RE2 does not accept, with a hint', (text, hint) => {
    expect(() => parseMatch(text)).toThrow(InvalidMatchError);
    expect(() => parseMatch(text)).toThrow(hint);
  });

  it('accepts what RE2 adds to JavaScript syntax: inline flags, Unicode classes, named groups', () => {
    for (const text of ['x-user~(?i)^QA-', 'x-user~^\\p{L}+$', 'x-user~^(?P<team>qa|dev)-']) {
      expect(parseMatch(text).regex).toBe(text.slice('x-user~'.length));
    }
  });

  it('writes back what it reads', () => {
    for (const text of ['traffic=test', 'x-user~^qa-', 'cookie:canary=always']) {
      expect(formatMatch(parseMatch(text))).toBe(text);
    }
  });
});
