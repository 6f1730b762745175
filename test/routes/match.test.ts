import { describe, expect, it } from 'vitest';
import { formatMatch, InvalidMatchError, parseMatch, parseMatchList } from '../../src/routes/match.js';

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

  it('writes back what it reads', () => {
    for (const text of ['traffic=test', 'x-user~^qa-', 'cookie:canary=always']) {
      expect(formatMatch(parseMatch(text))).toBe(text);
    }
  });
});
