import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { WebSocket } from 'undici';
import { listen } from '../../src/server.js';
import { closeAll, cleanupAfterEach } from '../support/servers.js';
import { runProxyProcess, type SluiceProcess } from '../support/processes.js';
import { eventually } from '../support/eventually.js';

const { app, defer } = cleanupAfterEach(afterEach);

async function proxyProcess(appPort: number, args: string[] = []) {
  const proc = await runProxyProcess(['--app-port', String(appPort), '--drain-delay', '0s', ...args]);
  defer(() => proc.stop());
  return proc;
}

const MiB = 1024 * 1024;

/** A deterministic stream of `total` bytes, produced as it is read. */
function bytes(total: number): Readable {
  const block = randomBytes(64 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(block.length, total - sent);
      sent += n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

describe('the proxy process', () => {
  it('streams 100 MiB up and 100 MiB down with flat memory', async () => {
    const upstream = await app('stream', (req, res) => {
      if (req.method === 'POST') {
        let n = 0;
        req.on('data', (chunk: Buffer) => (n += chunk.length));
        req.on('end', () => res.end(String(n)));
        return;
      }
      const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'));
      res.writeHead(200, { 'content-length': size });
      void pipeline(bytes(size), res).catch(() => undefined);
    });
    const proxy = await proxyProcess(upstream.port);

    const upload = (size: number) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          { port: proxy.port, host: '127.0.0.1', method: 'POST', path: '/up' },
          (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve(Number(body)));
          },
        );
        req.on('error', reject);
        bytes(size).pipe(req);
      });
    const download = (size: number) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ port: proxy.port, host: '127.0.0.1', path: `/down?size=${size}` }, (res) => {
            let n = 0;
            // A slow reader, so that backpressure has to hold the body back rather than buffer it.
            res.on('data', (chunk: Buffer) => {
              n += chunk.length;
              if (n % (8 * MiB) < chunk.length) {
                res.pause();
                setTimeout(() => res.resume(), 20);
              }
            });
            res.on('end', () => resolve(n));
          })
          .on('error', reject);
      });

    // Memory is flat when a transfer four times larger raises the peak by little: the garbage
    // collector's slack is paid in the first round, while buffering would add the 75 MiB more per
    // direction that the second round moves.
    expect(await upload(25 * MiB)).toBe(25 * MiB);
    expect(await download(25 * MiB)).toBe(25 * MiB);
    const afterSmall = proxy.peakRssMiB();
    expect(await upload(100 * MiB)).toBe(100 * MiB);
    expect(await download(100 * MiB)).toBe(100 * MiB);
    const afterLarge = proxy.peakRssMiB();
    console.log(
      `proxy peak RSS: ${afterSmall.toFixed(1)} MiB after 2 × 25 MiB, ${afterLarge.toFixed(1)} MiB after 2 × 100 MiB`,
    );
    expect(afterLarge - afterSmall).toBeLessThan(50);
    expect(afterLarge).toBeLessThan(200);
  });

  it('passes a WebSocket through, both ways', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo: ${String(data)}`)));
    const port = await listen(server, 0, '127.0.0.1');
    defer(() => closeAll(server));
    const proxy = await proxyProcess(port);

    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
    const replies: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => {
        for (const word of ['one', 'two', 'three']) ws.send(word);
      });
      ws.addEventListener('message', (event) => {
        replies.push(String(event.data));
        if (replies.length === 3) resolve();
      });
      ws.addEventListener('error', () => reject(new Error('websocket failed')));
    });
    ws.close();
    expect(replies).toEqual(['echo: one', 'echo: two', 'echo: three']);
  });

  it('answers every request sent before and during a SIGTERM, and exits 0', async () => {
    // Some requests are slow, so that some are in flight when the listener closes.
    const upstream = await app('v1', (req, res) => {
      const slow = req.url === '/slow';
      setTimeout(() => res.end('ok'), slow ? 800 : 1).unref();
    });
    const proxy: SluiceProcess & { port: number } = await proxyProcess(upstream.port, [
      '--drain-delay',
      '2s',
    ]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const outcomes = { ok: 0, other: [] as string[], notSent: 0 };
    let sending = true;
    const one = (path: string) =>
      new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: proxy.port, path, agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) outcomes.ok++;
            else outcomes.other.push(String(res.statusCode));
            resolve();
          });
        });
        req.on('error', (err: NodeJS.ErrnoException) => {
          // Refused means the request was never sent: the listener had closed.
          if (err.code === 'ECONNREFUSED') outcomes.notSent++;
          else outcomes.other.push(err.code ?? err.message);
          resolve();
        });
      });
    const worker = async (i: number) => {
      while (sending) await one(i % 4 === 0 ? '/slow' : '/fast');
    };
    const workers = Array.from({ length: 12 }, (_, i) => worker(i));
    await eventually('50 requests answered before the signal', () => outcomes.ok >= 50, {
      timeoutMs: 30_000,
    });
    proxy.child.kill('SIGTERM');
    // Clients keep sending after SIGTERM, as they do while the endpoints update: the drain must answer them,
    // slow ones included.
    const atSignal = outcomes.ok;
    await eventually('50 more requests answered while draining', () => outcomes.ok >= atSignal + 50, {
      timeoutMs: 30_000,
    });
    sending = false;
    await Promise.all(workers);
    agent.destroy();
    expect(await proxy.exited).toBe(0);
    expect(outcomes.other).toEqual([]);
    expect(outcomes.ok).toBeGreaterThanOrEqual(100);
  });
});
