import { spawn } from 'node:child_process';
import { SLUICE_BIN } from './processes.js';

/** `sluice demo` in a child process, as a user runs it: its stdout lines, as they come and in the end. */
export interface DemoRun {
  lines: string[];
  /** Resolves with the first line that matches. */
  waitForLine(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** The exit code and the parsed last line (empty when it is not JSON: the demo was stopped). */
  finished: Promise<{ code: number | null; result: Record<string, unknown> }>;
  stop(): void;
}

/**
 * Short intervals and little warm-up, so that a whole release takes seconds; a light load, since the
 * whole demo shares one process and this machine with other tests.
 */
export const FAST = ['--interval', '1s', '--warmup', '500ms', '--rate', '40'];

/**
 * For the runs that must promote: on a machine this busy, the one process that runs every proxy and app
 * can stall for seconds, and a p99 over a 1 s window would fail a healthy v2. The slow scenario keeps the
 * default 500 ms objective.
 */
export const STALL_TOLERANT = ['--objectives', 'success-rate>=99%,p99-latency<=5s', '--threshold', '4'];

export function runDemo(args: string[], timeoutMs = 50_000): DemoRun {
  const child = spawn(process.execPath, [SLUICE_BIN, 'demo', ...args], {
    env: { ...process.env, SLUICE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        const match = w.pattern.exec(line);
        if (match !== null) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(match);
        }
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return {
    lines,
    waitForLine(pattern, ms = 20_000) {
      for (const line of lines) {
        const match = pattern.exec(line);
        if (match !== null) return Promise.resolve(match);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${ms} ms`)), ms);
        waiters.push({
          pattern,
          resolve: (m) => {
            clearTimeout(t);
            resolve(m);
          },
        });
      });
    },
    finished: exited.then((code) => ({ code, result: parseLast(lines) })),
    stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}

function parseLast(lines: string[]): Record<string, unknown> {
  try {
    return JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  } catch {
    return {};
  }
}
