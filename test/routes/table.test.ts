import { describe, expect, it } from 'vitest';
import { routeTable, routeTableSchema } from '../../src/routes/table.js';

describe('route table validation', () => {
  it.each(['-1', 'not a url', '', 'http//x'])(
    'rejects the canary url %j as invalid, without throwing',
    (url) => {
      const parsed = routeTableSchema.safeParse({ version: 'v1', canary: { url, weight: 10 } });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues.map((i) => i.message)).toEqual(['expected an http:// URL']);
    },
  );
});

describe('route table mirror share', () => {
  const canary = { url: 'http://podinfo-canary.shop:9898', weight: 0 };

  it.each([-1, 101, Number.NaN])('rejects the mirror share %j', (mirror) => {
    const parsed = routeTableSchema.safeParse({ version: 'v1', canary: { ...canary, mirror } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['canary', 'mirror']);
  });

  it('takes a share from 0 to 100 and leaves it out when absent', () => {
    expect(routeTableSchema.parse({ version: 'v1', canary: { ...canary, mirror: 25 } }).canary?.mirror).toBe(
      25,
    );
    expect(routeTableSchema.parse({ version: 'v1', canary }).canary).not.toHaveProperty('mirror');
  });

  it('gives a table without mirroring the version it had before the field existed', () => {
    const plain = routeTableSchema.parse({ version: 'v1', canary }).canary;
    const mirrored = routeTableSchema.parse({ version: 'v1', canary: { ...canary, mirror: 50 } }).canary;
    expect(plain).not.toBeNull();
    // The version this table had before the field existed, so proxies keep their tables on an upgrade.
    expect(routeTable(plain).version).toBe('e5656860eb5266b2');
    expect(routeTable(mirrored).version).not.toBe(routeTable(plain).version);
  });
});
