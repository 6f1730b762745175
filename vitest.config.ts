import { defineConfig } from 'vitest/config';

// One project per testing tier (DESIGN.md, "Testing tiers"). A test's tier is in its file name:
// `x.test.ts` is a unit test of pure code, `x.component.test.ts` starts real processes on loopback,
// `x.integration.test.ts` needs a real Prometheus, `x.e2e.test.ts` a real Kubernetes control plane.
const tier = (
  name: string,
  include: string,
  exclude: string[],
  testTimeout: number,
  options: { fileParallelism?: boolean } = {},
) => ({
  test: { name, include: [include], exclude, testTimeout, hookTimeout: testTimeout, ...options },
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
      // Each e2e file starts its own control plane, which takes most of a core while it starts: one at a time.
      tier('e2e', 'test/**/*.e2e.test.ts', [], 600_000, { fileParallelism: false }),
      // Not a test tier: `npm run scale:releases` (bench/release-scale.scale.ts) runs on the control plane of
      // test/support, so through vitest, which runs that TypeScript as the e2e tests do.
      tier('scale', 'bench/**/*.scale.ts', [], 3_600_000, { fileParallelism: false }),
    ],
  },
});
