import { describe, expect, it } from 'vitest';
import { routeTableSchema } from '../../src/routes/table.js';

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
