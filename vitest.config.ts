import { defineConfig } from 'vitest/config';

// One project per testing tier (DESIGN.md, "Testing tiers"). A test's tier is in its file name:
// `x.test.ts` is a unit test of pure code, `x.component.test.ts` starts real processes on loopback,
// `x.integration.test.ts` needs a real Prometheus, `x.e2e.test.ts` a real Kubernetes control plane.
const tier = (name: string, include: string, exclude: string[], testTimeout: number) => ({
  test: { name, include: [include], exclude, testTimeout, hookTimeout: testTimeout },
});

export default defineConfig({
  test: {
    projects: [
      tier(
        'unit',
        'test/**/*.test.ts',
        ['test/**/*.component.test.ts', 'test/**/*.integration.test.ts', 'test/**/*.e2e.test.ts'],
        10_000,
      ),
      tier('component', 'test/**/*.component.test.ts', [], 60_000),
      tier('integration', 'test/**/*.integration.test.ts', [], 180_000),
      tier('e2e', 'test/**/*.e2e.test.ts', [], 600_000),
    ],
  },
});
