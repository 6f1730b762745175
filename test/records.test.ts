import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { setOwn, withEntries } from '../src/records.js';
import { seededRandom } from './support/random.js';

/** V8's own answer to "do these two objects share a hidden class?". */
function sameHiddenClass(): (a: object, b: object) => boolean {
  v8.setFlagsFromString('--allow-natives-syntax');
  return new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
}

describe('records built key by key', () => {
  it('are what spreading the base and then the entries gives, key order included', () => {
    const random = seededRandom(11);
    const keys = ['app', 'team', 'sluice.dev/role', 'prometheus.io/port', '10', '2', 'a/b', ''];
    const pick = () =>
      Object.fromEntries(
        keys.filter(() => random() < 0.5).map((key) => [key, String(Math.floor(random() * 100))]),
      );
    for (let i = 0; i < 500; i++) {
      const base = pick();
      const entries = pick();
      const before = JSON.stringify(base);
      const out = withEntries(base, entries);
      expect(JSON.stringify(out)).toBe(JSON.stringify({ ...base, ...entries }));
      expect(JSON.stringify(base)).toBe(before);
    }
    expect(withEntries(undefined, { a: '1' })).toEqual({ a: '1' });
  });

  it('keep a __proto__ key of parsed JSON as a property, never as the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": "yes"}, "app": "checkout"}') as Record<
      string,
      unknown
    >;
    const out = withEntries<unknown>(parsed, { team: 'payments' });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'app', 'team']);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":"yes"},"app":"checkout","team":"payments"}');
    const record: Record<string, string> = {};
    setOwn(record, '__proto__', 'x');
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.hasOwn(record, '__proto__')).toBe(true);
  });

  it('share one hidden class when they have the same keys', () => {
    const same = sameHiddenClass();
    const text = '{"app.kubernetes.io/name":"checkout","team":"payments"}';
    const parsed = () => JSON.parse(text) as Record<string, string>;
    const role = 'sluice.dev/role';
    const built = () => withEntries(parsed(), { [role]: 'primary' });
    expect(same(built(), built())).toBe(true);
  });
});
