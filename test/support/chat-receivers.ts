import http from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import { listen } from '../../src/server.js';
import { closeAll } from './servers.js';

/** Chat receivers on loopback for the notification tests: real HTTP servers, each behaving one way. */

export interface Received {
  path: string;
  contentType: string | undefined;
  body: unknown;
}

export interface TestReceiver {
  /** With a path that stands for the secret part of a real webhook URL. */
  url: string;
  received: Received[];
  /** Resolves once `count` messages have arrived. */
  waitFor(count: number): Promise<Received[]>;
  close(): Promise<void>;
}

/**
 * Reads each POST's JSON body, then answers `status` with `headers`; `status` null never answers (the
 * request is read and the connection held open).
 */
export async function startReceiver(
  status: number | null = 200,
  headers: Record<string, string> = {},
): Promise<TestReceiver> {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
      });
      for (const wake of waiters.splice(0)) wake();
      if (status !== null) res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end('ok');
    });
  });
  const port = await listen(server, 0, '127.0.0.1');
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/secret-token-${port}`,
    received,
    async waitFor(count) {
      while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
      return received;
    },
    close: () => closeAll(server),
  };
}

/** A loopback port that nothing listens on: connections are refused. */
export async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  const port = await listen(server, 0, '127.0.0.1');
  await closeAll(server);
  return `http://127.0.0.1:${port}/hooks/refused-token-${port}`;
}

/** A logger whose JSON lines the test reads. */
export function capturedLogger(): { logger: Logger; lines: () => string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => lines };
}
