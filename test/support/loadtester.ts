import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { createLinkedNamespace } from './node-network.js';
import { ManagedProcess } from './processes.js';
import { eventually } from './eventually.js';

// Flagger's load tester, built from its Go module by hack/loadtester/build.sh: the gate server Flagger users
// run, which the end-to-end tier holds releases with. Nobody here wrote it, so it checks that sluice keeps
// Flagger's webhook contract, not sluice's idea of it.

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const buildScript = 'hack/loadtester/build.sh';

export class LoadTesterNotBuiltError extends Error {
  readonly code = 'LOADTESTER_NOT_BUILT';
  constructor(readonly binDir: string) {
    super(`Flagger's load tester is not built in ${binDir}: run ${buildScript}`);
    this.name = 'LoadTesterNotBuiltError';
  }
}

/** Where hack/loadtester/build.sh puts the binary: a directory named by a hash of the script. */
export function loadTesterBinDir(): string {
  const key = createHash('sha256')
    .update(readFileSync(join(repoRoot, buildScript)))
    .digest('hex')
    .slice(0, 12);
  const cache = process.env['SLUICE_LOADTESTER_CACHE'] ?? join(homedir(), '.cache/sluice-loadtester');
  return join(cache, key);
}

export interface LoadTester {
  /** `http://<address>:<port>` in the load tester's own namespace: gates are `${url}/gate/check` and the like. */
  url: string;
  /** POSTs Flagger's payload for this Canary to one of the load tester's paths (`/gate/open`, …). */
  post(path: string, canary: { name: string; namespace: string }): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the load tester in a network namespace of its own and waits for its /healthz. */
export async function startLoadTester(): Promise<LoadTester> {
  const bin = join(loadTesterBinDir(), 'loadtester');
  if (!existsSync(bin)) throw new LoadTesterNotBuiltError(loadTesterBinDir());
  // It has no flag for the address and binds every interface: in a namespace of the test's own those are
  // its loopback and the one link to this machine.
  const linked = await createLinkedNamespace();
  const port = 9090;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-loadtester-'));
  // `ip netns exec` enters the namespace and execs the load tester: the process stopped is the load tester.
  const child = new ManagedProcess(
    'loadtester',
    'ip',
    ['netns', 'exec', linked.netns, bin, '-port', String(port), '-log-level', 'info'],
    join(dir, 'log'),
  );
  const url = `http://${linked.address}:${port}`;
  await eventually(
    'the load tester to answer /healthz',
    async () => (await request(`${url}/healthz`)).statusCode === 200,
    { timeoutMs: 20_000, process: child },
  );
  return {
    url,
    async post(path, canary) {
      const res = await request(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(canary),
      });
      await res.body.dump();
      return res.statusCode;
    },
    async stop() {
      await child.stop();
      await linked.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
