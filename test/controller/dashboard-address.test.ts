import { describe, expect, it } from 'vitest';
import { dashboardAddressSchema } from '../../src/controller/dashboard.js';

describe('--dashboard-address', () => {
  it('takes host:port, [v6]:port, :port for every interface, or off', () => {
    expect(dashboardAddressSchema.parse('127.0.0.1:8090')).toEqual({ host: '127.0.0.1', port: 8090 });
    expect(dashboardAddressSchema.parse('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(dashboardAddressSchema.parse('[::1]:8090')).toEqual({ host: '::1', port: 8090 });
    expect(dashboardAddressSchema.parse(':8090')).toEqual({ host: '0.0.0.0', port: 8090 });
    expect(dashboardAddressSchema.parse('off')).toBeNull();
  });

  it('refuses anything else, saying what it takes', () => {
    for (const bad of ['8090', 'dashboard.example:8090', '127.0.0.1:70000', '127.0.0.1', '::1:8090', '']) {
      const result = dashboardAddressSchema.safeParse(bad);
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.message).toContain('host:port');
    }
  });
});
