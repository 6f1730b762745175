import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { eventually } from './eventually.js';

export const PROMETHEUS_BIN = process.env['PROMETHEUS_BIN'] ?? 'prometheus';

export interface RunningPrometheus {
  url: string;
  /** The raw value of an instant query, for waiting on scrapes. */
  value(promql: string): Promise<number | undefined>;
  /** Stops the process as an outage would, keeping its port, config and data for `restart`. */
  interrupt(): Promise<void>;
  /** Starts it again after `interrupt`, on the same port with the same data, and waits until it is ready. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A port the system says is free now; Prometheus cannot report the one it got for :0. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface PrometheusOptions {
  /** How often every target is scraped [1s]; hundreds of targets on a shared machine want longer. */
  scrapeInterval?: string;
  /** Rule files to load (absolute paths). */
  ruleFiles?: readonly string[];
}

/** Starts a real Prometheus scraping `targets` (host:port), with a config in a temp dir. */
export async function startPrometheus(
  targets: readonly string[],
  options: PrometheusOptions = {},
): Promise<RunningPrometheus> {
  const interval = options.scrapeInterval ?? '1s';
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-prometheus-'));
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    ...(options.ruleFiles === undefined
      ? []
      : ['rule_files:', ...options.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)]),
    'scrape_configs:',
    '  - job_name: sluice-proxies',
    '    static_configs:',
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
  ].join('\n');
  await writeFile(path.join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const launch = async (): Promise<void> => {
    const started = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = started;
    started.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    exited = new Promise<void>((resolve) => started.on('exit', () => resolve()));
    await eventually(
      'prometheus to be ready',
      async () => {
        if (started.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
        const res = await request(`${url}/-/ready`);
        await res.body.text();
        return res.statusCode === 200;
      },
      { intervalMs: 200 },
    ).catch((err: unknown) => {
      throw new Error(`prometheus not ready: ${stderr}`, { cause: err });
    });
  };
  const interrupt = async (): Promise<void> => {
    if (child?.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  const stop = async (): Promise<void> => {
    await interrupt();
    await rm(dir, { recursive: true, force: true });
  };
  await launch().catch(async (err: unknown) => {
    await stop();
    throw err;
  });

  return {
    url,
    stop,
    interrupt,
    restart: launch,
    async value(promql) {
      const res = await request(`${url}/api/v1/query?${new URLSearchParams({ query: promql }).toString()}`);
      const json = (await res.body.json()) as { data?: { result?: { value: [number, string] }[] } };
      const first = json.data?.result?.[0];
      return first === undefined ? undefined : Number(first.value[1]);
    },
  };
}
