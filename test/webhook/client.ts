import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A real HTTPS client for the webhook's tests and benchmark: keep-alive, trusting only the given CA. */

export interface Reply {
  status: number;
  body: string;
}

export function webhookAgent(ca: string, maxSockets = 16): https.Agent {
  return new https.Agent({ ca, keepAlive: true, maxSockets });
}

export function send(
  agent: https.Agent,
  port: number,
  method: string,
  path: string,
  body?: string | Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method,
        path,
        headers:
          body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export const review = (request: unknown): string =>
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });

const BIN = new URL('../../bin/sluice.js', import.meta.url).pathname;

export interface WebhookProcess {
  child: ChildProcess;
  port: number;
  ca: string;
  /** Kills the process if it still runs, and removes its directory. */
  stop(): void;
}

/** `sluice webhook --standalone` as its own process on a free loopback port, with generated certificates. */
export async function spawnWebhook(extra: readonly string[] = []): Promise<WebhookProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-webhook-'));
  writeFileSync(join(dir, 'seal.key'), 'ab'.repeat(32));
  const certDir = join(dir, 'certs');
  const args = ['webhook', '--port', '0', '--host', '127.0.0.1', '--standalone', '--cert-dir', certDir];
  const child = spawn(process.execPath, [BIN, ...args, '--seal-key-file', join(dir, 'seal.key'), ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SLUICE_LOG_LEVEL: 'info' },
  });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`webhook exited with ${code}`)));
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'listening' && entry.port !== undefined) resolve(entry.port);
      });
    });
    return { child, port, ca: readFileSync(join(certDir, 'ca.crt'), 'utf8'), stop };
  } catch (err) {
    stop();
    throw err;
  }
}
