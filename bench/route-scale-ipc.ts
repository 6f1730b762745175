import type { RouteCanaryInput } from '../src/routes/table.js';

/** What bench/route-scale.ts and its two kinds of child process say to each other over IPC. */

export type ServerRequest =
  | { set: RouteCanaryInput }
  | { usage: true }
  /** When the server last finished writing a table (a 200), for how long it took to answer everyone. */
  | { lastTable: true };

export type ServerAnswer =
  | { port: number }
  | { version: string; at: number }
  | { lastTableAt: number }
  | { cpuMs: number; rssMiB: number; peakRssMiB: number; connections: number };

/** Applies seen since the last report: [version, when] pairs. */
export interface ProxiesReport {
  applied: [string, number][];
}

export const NAMESPACE = 'scale';
export const DEPLOYMENT = 'app';

/** Wall-clock milliseconds, comparable between processes, with sub-millisecond resolution. */
export const now = (): number => performance.timeOrigin + performance.now();
