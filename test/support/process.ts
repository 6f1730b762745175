import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SLUICE_BIN = fileURLToPath(new URL('../../bin/sluice.js', import.meta.url));

export interface SluiceProcess {
  child: ChildProcess;
  /** Log lines (parsed JSON) written so far. */
  logs: Record<string, unknown>[];
  /** Everything written to stdout and stderr so far, as text, JSON or not. */
  output(): string;
  /** Resolves with the first log line whose msg is `msg`. */
  waitForLog(msg: string, ms?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  /** Peak resident memory so far, in MiB (Linux). */
  peakRssMiB(): number;
  stop(): Promise<number | null>;
}

/**
 * Runs the built `sluice` CLI as a child process, the way it runs in a pod; `nodeArgs` go to node before
 * it, for the flags NODE_OPTIONS does not take (`--cpu-prof`).
 */
export function runSluice(
  args: string[],
  env: Record<string, string> = {},
  nodeArgs: readonly string[] = [],
): SluiceProcess {
  const child = spawn(process.execPath, [...nodeArgs, SLUICE_BIN, ...args], {
    env: { ...process.env, SLUICE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    output.push(chunk.toString());
    buffered += chunk.toString();
    let newline;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue;
      }
      logs.push(line);
      for (const w of waiters.filter((w) => w.msg === line['msg'])) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.push(chunk.toString());
    process.stderr.write(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    output: () => output.join(''),
    exited,
    waitForLog(msg, ms = 10_000) {
      const seen = logs.find((l) => l['msg'] === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${ms} ms`)), ms);
        waiters.push({
          msg,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then(() => reject(new Error(`sluice exited before logging "${msg}"`)));
      });
    },
    peakRssMiB() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
      return kib / 1024;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Starts `sluice proxy` in a child process and waits for its ports. */
export async function runProxyProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<SluiceProcess & { port: number; adminPort: number }> {
  const proc = runSluice(
    ['proxy', '--listen-host', '127.0.0.1', '--listen-port', '0', '--admin-port', '0', ...args],
    env,
  );
  const line = await proc.waitForLog('proxyListening');
  return Object.assign(proc, { port: line['port'] as number, adminPort: line['adminPort'] as number });
}
