import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

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

/** Polls `probe` until it returns true, failing fast when `process` exits. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; process?: ManagedProcess; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.process?.assertRunning();
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const tail = options.process ? `; last log lines:\n${options.process.logTail()}` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${tail}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
