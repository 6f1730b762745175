import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/server.js';
import { runProxyProcess } from '../support/processes.js';
import { closeAll, get, startUpstream, type Upstream } from '../support/servers.js';
import { seededRandom } from '../support/random.js';

/**
 * 10,000 random requests (well-formed and not) while the route table changes under them at random
 * (valid tables and broken ones). Afterwards the proxy must be up and every request must have had an
 * answer: a response, or for malformed bytes the 400 that closes the connection.
 */

// Seeded, so that a failure can be replayed with the seed it prints.
function generator(seed: number) {
  const next = seededRandom(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const text = (n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~%') =>
    Array.from({ length: int(n) + 1 }, () => alphabet[int(alphabet.length)]).join('');
  return { next, int, pick, text };
}

const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);
const rnd = generator(seed);

let primary: Upstream;
let canary: Upstream;
let routeServer: http.Server;
let proxy: Awaited<ReturnType<typeof runProxyProcess>>;
let tableBody = '{"version":"0","canary":null}';

beforeAll(async () => {
  const echo: Parameters<typeof startUpstream>[1] = (req, res) => {
    req.resume();
    req.on('end', () => {
      const r = rnd.next();
      if (r < 0.02) return void res.destroy();
      res.writeHead(rnd.pick([200, 201, 204, 301, 404, 500, 503]), { 'x-upstream': 'yes' });
      res.end(r < 0.5 ? '' : 'x'.repeat(rnd.int(5_000)));
    });
  };
  primary = await startUpstream('v1', echo);
  canary = await startUpstream('v2', echo);
  routeServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(tableBody);
  });
  const routePort = await listen(routeServer, 0, '127.0.0.1');
  proxy = await runProxyProcess([
    '--app-port',
    String(primary.port),
    '--control-url',
    `http://127.0.0.1:${routePort}`,
    '--upstream-timeout',
    '2s',
    '--drain-delay',
    '0s',
  ]);
});

afterAll(async () => {
  await proxy?.stop();
  await closeAll(routeServer);
  await primary.close();
  await canary.close();
});

function randomTable(version: number): string {
  const url = rnd.pick([canary.url, 'http://127.0.0.1:1', 'ftp://x', 'not a url', canary.url]);
  const match = () =>
    rnd.pick([
      { header: 'traffic', exact: 'test' },
      { header: 'x-user', regex: rnd.pick(['^qa-', '(', '.*', '[a-z]+$']) },
      { cookie: 'canary', exact: 'always' },
      { header: 'bad header', exact: 'x' },
      { nonsense: true },
    ]);
  const weight = rnd.pick<unknown>([0, 1, 10, 50, 100, 250, -1, '10', null, 33.3]);
  const canaryPart =
    rnd.next() < 0.2
      ? null
      : {
          url,
          weight,
          match: Array.from({ length: rnd.int(3) }, match),
          segment: rnd.next() < 0.3 ? [match()] : [],
          sticky: rnd.pick([null, 'x-user', 'cookie:session', 'bad key!']),
        };
  if (rnd.next() < 0.05) return '{"version": "broken json';
  return JSON.stringify({ version: String(version), canary: canaryPart });
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'FOO'];
const HEADER_NAMES = [
  'traffic',
  'x-user',
  'cookie',
  'country',
  'connection',
  'te',
  'upgrade',
  'expect',
  'x-sluice-hop',
  'x-forwarded-for',
  'keep-alive',
  'x-random',
];

function wellFormed(): Promise<'answered' | string> {
  const headers: Record<string, string> = {};
  for (let i = rnd.int(5); i > 0; i--) {
    const name = rnd.pick(HEADER_NAMES);
    headers[name] =
      name === 'connection' ? rnd.pick(['close', 'keep-alive', 'x-random']) : rnd.text(20, 'abcqa-=;. ');
  }
  if (headers['expect'] !== undefined) delete headers['expect'];
  const method = rnd.pick(METHODS);
  const body =
    method === 'GET' || method === 'HEAD' || rnd.next() < 0.5 ? undefined : 'b'.repeat(rnd.int(20_000));
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxy.port, method, path: `/${rnd.text(30)}`, headers, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve('answered'));
      },
    );
    req.on('error', (err) => resolve(`error ${err.message}`));
    req.end(body);
  });
}

function malformed(): Promise<'answered' | string> {
  const junk = rnd.pick([
    'GARBAGE\r\n\r\n',
    `GET /${'a'.repeat(rnd.int(100))} HTTP/9.9\r\n\r\n`,
    'GET / HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n',
    'GET / HTTP/1.1\r\nbad header: x\r\n\r\n',
    `GET / HTTP/1.1\r\nx: ${'v'.repeat(20_000)}\r\n\r\n`,
    'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
  ]);
  return new Promise((resolve) => {
    const socket = net.connect(proxy.port, '127.0.0.1', () => socket.write(junk));
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    socket.on('close', () =>
      resolve(
        got.startsWith('HTTP/1.1 4') ? 'answered' : `no answer to ${JSON.stringify(junk.slice(0, 40))}`,
      ),
    );
    socket.on('error', () => undefined);
  });
}

describe('fuzzing the proxy', () => {
  it(`answers 10,000 random requests while random route tables arrive (seed ${seed})`, async () => {
    const total = 10_000;
    const failures: string[] = [];
    let sent = 0;
    const worker = async () => {
      while (sent < total) {
        const i = sent++;
        if (i % 100 === 0) tableBody = randomTable(i);
        const outcome = await (rnd.next() < 0.1 ? malformed() : wellFormed());
        if (outcome !== 'answered') failures.push(outcome);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    console.log(`fuzz seed ${seed}: ${failures.length} of ${total} requests without an answer`);
    expect(failures).toEqual([]);
    expect(proxy.child.exitCode).toBeNull();
    expect((await get(`http://127.0.0.1:${proxy.adminPort}/livez`)).status).toBe(200);
  });
});
