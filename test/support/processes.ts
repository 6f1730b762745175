import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export class CommandFailedError extends Error {
  readonly code = 'COMMAND_FAILED';
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(`${command} exited ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandFailedError';
  }
}

/** Runs a command to completion; never throws on a non-zero exit (see `runOrThrow`). */
export function run(
  bin: string,
  args: readonly string[],
  options: { stdin?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
      ...(options.env !== undefined && { env: { ...process.env, ...options.env } }),
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8') + (signal ? `\nkilled by ${signal}` : ''),
        exitCode: code ?? 128,
      }),
    );
    // A command that exits without reading its stdin closes the pipe: that is not the command failing.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin ?? '');
  });
}

export async function runOrThrow(
  bin: string,
  args: readonly string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<string> {
  const result = await run(bin, args, options);
  if (result.exitCode !== 0) throw new CommandFailedError([bin, ...args].join(' '), result);
  return result.stdout;
}

/** A free TCP port on 127.0.0.1, as the kernel hands it out for port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export class ProcessExitedError extends Error {
  readonly code = 'PROCESS_EXITED';
  constructor(
    readonly processName: string,
    readonly exitCode: number | null,
    readonly logTail: string,
  ) {
    super(`${processName} exited (${exitCode ?? 'signal'}) before it was ready; last log lines:\n${logTail}`);
    this.name = 'ProcessExitedError';
  }
}

/** Every long-running process the harness started, so an exiting test runner can still kill them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
});

/** A long-running process with its output in a log file, stopped by its own PID. */
export class ManagedProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    bin: string,
    args: readonly string[],
    readonly logPath: string,
  ) {
    const log = openSync(logPath, 'a');
    try {
      this.#child = spawn(bin, args, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    running.add(this.#child);
    this.#exited = new Promise((resolve) => {
      this.#child.on('exit', (code) => {
        running.delete(this.#child);
        this.#exitCode = code;
        resolve(code);
      });
      this.#child.on('error', () => {
        running.delete(this.#child);
        this.#exitCode = null;
        resolve(null);
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Throws `ProcessExitedError` if the process is gone; readiness loops call it between polls. */
  assertRunning(): void {
    if (this.#exitCode !== undefined) throw new ProcessExitedError(this.name, this.#exitCode, this.logTail());
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** SIGTERM, then SIGKILL after the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#exitCode !== undefined || this.#child.pid === undefined) return;
    this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([this.#exited, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#child.kill('SIGKILL');
      await this.#exited;
    }
  }
}

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
  running.add(child);
  child.once('exit', () => running.delete(child));
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
