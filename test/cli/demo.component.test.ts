import { spawn } from 'node:child_process';
import { describe, it } from 'vitest';
import { SLUICE_BIN } from '../support/process.js';

interface DemoRun {
  code: number | null;
  lines: string[];
  result: Record<string, unknown>;
}

/** Runs `sluice demo` to its end, as a user would. */
function demo(args: string[]): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SLUICE_BIN, 'demo', ...args], {
      env: { ...process.env, SLUICE_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const lines = out.trimEnd().split('\n');
      try {
        resolve({ code, lines, result: JSON.parse(lines.at(-1) ?? '') as Record<string, unknown> });
      } catch {
        reject(new Error(`the last line is not JSON:\n${out}`));
      }
    });
  });
}

// Each run is a few seconds of mostly waiting for intervals, so the runs go side by side.
describe.concurrent('sluice demo', () => {
  it('promotes a good version and rolls back a bad one, printing each step and a JSON result', async ({
    expect,
  }) => {
    const [good, bad] = await Promise.all([demo(['--scenario', 'good']), demo(['--scenario', 'bad'])]);

    expect(good.code).toBe(0);
    expect(good.result).toMatchObject({ result: 'promoted', phase: 'Succeeded', canaryFailures: 0 });
    expect(good.result['seconds']).toBeLessThan(120);
    const text = good.lines.join('\n');
    expect(text).toContain('Advance canary weight 5');
    expect(text).toContain('Advance canary weight 50');
    expect(text).toContain('Promotion completed');

    expect(bad.code).toBe(0);
    expect(bad.result).toMatchObject({ result: 'rolled-back', phase: 'Failed' });
    expect(bad.lines.join('\n')).toMatch(/Halt advancement: success rate \d+(\.\d)?% < 99%/);
    expect(bad.lines.join('\n')).toContain('Rolling back');
    // The blast radius: v2's failures as a share of all requests.
    const share = Number(bad.result['canaryFailures']) / Number(bad.result['requests']);
    expect(share).toBeLessThan(0.05);
  });

  it('rolls back a slow version on latency', async ({ expect }) => {
    const slow = await demo(['--scenario', 'slow']);
    const text = slow.lines.join('\n');
    expect(slow.result, text).toMatchObject({ result: 'rolled-back' });
    expect(text).toMatch(/p99 latency [\d.]+m?s > 500ms/);
  });

  it('in A/B mode sends only traffic: test requests to v2, at weight 0', async ({ expect }) => {
    const ab = await demo(['--iterations', '2', '--min-requests', '5']);
    expect(ab.result).toMatchObject({ result: 'promoted' });
    const text = ab.lines.join('\n');
    expect(text).toContain('weight 0');
    expect(text).not.toContain('Advance canary weight');
    const tests = /traffic: test requests answered by v2: (\d+)\/(\d+)/.exec(text);
    expect(Number(tests?.[1])).toBeGreaterThan(0);
    expect(Number(ab.result['canaryRequests'])).toBeLessThanOrEqual(Number(tests?.[2]));
  });

  it('denies a bad release option with the annotation schema text', async ({ expect }) => {
    const run = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [SLUICE_BIN, 'demo', '--interval', '1s'], { stdio: 'pipe' });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('exit', (code) => resolve({ code, err }));
    });
    expect(run.code).toBe(2);
    expect(run.err).toContain('sluice.dev/interval: "1s" is not valid: expected a duration of at least 5s');
  });
});
