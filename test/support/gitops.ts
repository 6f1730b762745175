import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster } from './kube.js';
import { CommandFailedError, ManagedProcess, run, type RunResult } from './processes.js';
import { eventually } from './eventually.js';

// The GitOps clients real users deploy with, for the end-to-end tier: helm (v4) and flux-apply, a driver of
// the server-side applier Flux's kustomize-controller applies with. Both are built by hack/gitops/build.sh.

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const buildScript = 'hack/gitops/build.sh';

/**
 * A directory of the cluster's own, inside the temp dir its `stop()` removes (the kubeconfig's), so what a
 * client leaves behind goes with the cluster even when the test runner ends its worker abruptly.
 */
function clusterDir(cluster: Cluster, name: string): string {
  const dir = join(dirname(cluster.kubeconfigPath), name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export class GitOpsClientsNotBuiltError extends Error {
  readonly code = 'GITOPS_CLIENTS_NOT_BUILT';
  constructor(readonly binDir: string) {
    super(`the GitOps clients (helm, flux-apply) are not built in ${binDir}: run ${buildScript}`);
    this.name = 'GitOpsClientsNotBuiltError';
  }
}

export class HelmError extends CommandFailedError {
  override readonly name = 'HelmError';
}

/**
 * Where hack/gitops/build.sh puts the binaries: a directory named by a hash of the script (which pins helm's
 * version) and flux-apply's sources, the same files in the same order as the script hashes them.
 */
export function gitopsBinDir(): string {
  const hash = createHash('sha256');
  for (const file of ['build.sh', 'flux-apply/go.mod', 'flux-apply/go.sum', 'flux-apply/main.go']) {
    hash.update(readFileSync(join(repoRoot, 'hack/gitops', file)));
  }
  const cache = process.env['SLUICE_GITOPS_CACHE'] ?? join(homedir(), '.cache/sluice-gitops');
  return join(cache, hash.digest('hex').slice(0, 12));
}

/** Absolute paths of the built clients; throws `GitOpsClientsNotBuiltError` when either is missing. */
export function gitopsBinaries(): { helm: string; fluxApply: string } {
  const dir = gitopsBinDir();
  const helmPath = join(dir, 'helm');
  const fluxApplyPath = join(dir, 'flux-apply');
  if (!existsSync(helmPath) || !existsSync(fluxApplyPath)) throw new GitOpsClientsNotBuiltError(dir);
  return { helm: helmPath, fluxApply: fluxApplyPath };
}

// helm keeps its config, cache and data under HOME and the XDG dirs: a throwaway set per cluster, so nothing
// from the machine's own helm setup leaks into a test, and nothing leaks out of it.
function helmEnv(cluster: Cluster): Record<string, string> {
  return helmHome(clusterDir(cluster, 'helm-home'));
}

function helmHome(home: string): Record<string, string> {
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_DATA_HOME: join(home, 'data'),
  };
}

export interface HelmOptions {
  /** [120 s]: longer than any `--timeout` a test gives helm itself. */
  timeoutMs?: number;
}

/**
 * Runs helm without a cluster (`lint`, `template`), with its HOME in `home` (a temp dir the caller removes);
 * resolves on any exit. A kubeconfig that names no server keeps `lookup` from reaching any cluster.
 */
export function tryHelmOffline(home: string, args: readonly string[]): Promise<RunResult> {
  const { helm: helmPath } = gitopsBinaries();
  return run(helmPath, args, { env: { ...helmHome(home), KUBECONFIG: join(home, 'no-kubeconfig') } });
}

/** Runs helm against the cluster as cluster-admin and resolves on any exit, for tests that expect a failure. */
export function tryHelm(
  cluster: Cluster,
  args: readonly string[],
  options: HelmOptions = {},
): Promise<RunResult> {
  const { helm: helmPath } = gitopsBinaries();
  return run(helmPath, [`--kubeconfig=${cluster.kubeconfigPath}`, ...args], {
    env: helmEnv(cluster),
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

/** Runs helm against the cluster as cluster-admin; resolves stdout, rejects with `HelmError` on a non-zero exit. */
export async function helm(
  cluster: Cluster,
  args: readonly string[],
  options: HelmOptions = {},
): Promise<string> {
  const result = await tryHelm(cluster, args, options);
  if (result.exitCode !== 0) throw new HelmError(`helm ${args.join(' ')}`, result);
  return result.stdout;
}

/** What flux-apply did with one object in one round, e.g. `{ object: 'Deployment/ns/web', action: 'created' }`. */
export interface FluxAction {
  /** `Kind/namespace/name`, or `Kind/name` for a cluster-scoped object. */
  object: string;
  action: 'created' | 'configured' | 'unchanged' | 'skipped' | 'deleted' | 'unknown';
}

/** One apply of all the manifests: every object's action, and the error when the apply failed part-way. */
export interface FluxRound {
  round: number;
  actions: FluxAction[];
  error?: string;
}

export interface FluxApplyOptions {
  /** Report what would change (a server-side dry run); write nothing. */
  dryRun?: boolean;
  /** Recreate objects whose immutable fields changed (a Kustomization's `spec.force`). */
  force?: boolean;
  /** Wait for the applied objects to be healthy (a Kustomization's `spec.wait`), up to `waitTimeoutMs`. */
  wait?: boolean;
  /**
   * [57 s] Best not a multiple of the health check's 5 s polling interval: a poll falling on the deadline can
   * fail on the client's rate limiter first, and the error is then that instead of the objects' statuses.
   */
  waitTimeoutMs?: number;
}

export class FluxApplyError extends CommandFailedError {
  override readonly name = 'FluxApplyError';
  constructor(
    command: string,
    result: RunResult,
    /** The failed round: the objects applied before the failure, and the error. */
    readonly round: FluxRound | undefined,
  ) {
    super(command, result);
  }
}

function fluxArgs(cluster: Cluster, path: string, options: FluxApplyOptions): string[] {
  return [
    `--kubeconfig=${cluster.kubeconfigPath}`,
    ...(options.dryRun ? ['--dry-run'] : []),
    ...(options.force ? ['--force'] : []),
    ...(options.wait ? ['--wait', `--timeout=${options.waitTimeoutMs ?? 57_000}ms`] : []),
    path,
  ];
}

/**
 * Applies a manifest file, or every .yaml/.yml/.json file under a directory, once, the way kustomize-controller
 * applies a Kustomization's build. Resolves each object's action; rejects with `FluxApplyError` on a failure.
 */
export async function fluxApply(
  cluster: Cluster,
  path: string,
  options: FluxApplyOptions = {},
): Promise<FluxAction[]> {
  const { fluxApply: fluxApplyPath } = gitopsBinaries();
  const args = fluxArgs(cluster, path, options);
  const result = await run(fluxApplyPath, args, {
    timeoutMs: 60_000 + (options.wait ? (options.waitTimeoutMs ?? 57_000) : 0),
  });
  const [round] = parseRounds(result.stdout);
  if (result.exitCode !== 0) throw new FluxApplyError(`flux-apply ${args.join(' ')}`, result, round);
  if (!round) throw new FluxApplyError(`flux-apply ${args.join(' ')} printed no round`, result, undefined);
  return round.actions;
}

let loops = 0;

/** A GitOps loop: flux-apply re-applying the same path every interval, as the controller reconciles. */
export interface FluxLoop {
  pid: number | undefined;
  /** The rounds finished so far. */
  rounds(): FluxRound[];
  /** Resolves the rounds finished so far once there are at least `count` of them. */
  waitForRounds(count: number, timeoutMs?: number): Promise<FluxRound[]>;
  /** Ends the loop (SIGTERM to its PID, SIGKILL after a grace period) and resolves every finished round. */
  stop(): Promise<FluxRound[]>;
}

/**
 * Starts flux-apply re-applying `path` every `intervalMs` until `stop()`. The manifests are read anew each
 * round, so a test can change them under a running loop.
 */
export function fluxLoop(
  cluster: Cluster,
  path: string,
  intervalMs: number,
  options: FluxApplyOptions = {},
): FluxLoop {
  const { fluxApply: fluxApplyPath } = gitopsBinaries();
  const logPath = join(clusterDir(cluster, 'flux-loops'), `${++loops}.log`);
  const applier = new ManagedProcess(
    'flux-apply',
    fluxApplyPath,
    [`--interval=${intervalMs}ms`, ...fluxArgs(cluster, path, options)],
    logPath,
  );
  const rounds = (): FluxRound[] => {
    try {
      return parseRounds(readFileSync(applier.logPath, 'utf8'));
    } catch {
      return [];
    }
  };
  let stopped: Promise<FluxRound[]> | undefined;
  return {
    pid: applier.pid,
    rounds,
    async waitForRounds(count, timeoutMs = 60_000) {
      await eventually(`${count} rounds of flux-apply`, async () => rounds().length >= count, {
        timeoutMs,
        process: applier,
      });
      return rounds();
    },
    stop() {
      stopped ??= (async () => {
        await applier.stop();
        return rounds();
      })();
      return stopped;
    },
  };
}

interface OutputLine {
  round?: number;
  object?: string;
  action?: FluxAction['action'];
  objects?: number;
  error?: string;
}

/**
 * flux-apply's output: a line per object, then a line closing the round (with `objects`, and `error` when it
 * failed). Only closed rounds are returned; anything that is not one of its JSON lines (stderr shares a loop's
 * log) is skipped.
 */
export function parseRounds(output: string): FluxRound[] {
  const rounds: FluxRound[] = [];
  let open: FluxAction[] = [];
  for (const text of output.split('\n')) {
    if (!text.startsWith('{')) continue;
    let line: OutputLine;
    try {
      line = JSON.parse(text) as OutputLine;
    } catch {
      continue;
    }
    if (line.round === undefined) continue;
    if (line.object !== undefined && line.action !== undefined) {
      open.push({ object: line.object, action: line.action });
    } else if (line.objects !== undefined) {
      rounds.push({
        round: line.round,
        actions: open,
        ...(line.error !== undefined && { error: line.error }),
      });
      open = [];
    }
  }
  return rounds;
}
