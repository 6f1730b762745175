import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';

/**
 * A Node.js proxy built the usual way, at its cheapest: Node's http server and undici's Pool (the stack
 * sluice's proxy was first built on), forwarding every request to one upstream with nothing else — no
 * routing, no header rewriting, no metrics, no timeouts. sluice, doing all of that on Node's parser and
 * raw sockets, is measured against it.
 *
 * Usage: node minimal-proxy.js PORT UPSTREAM_PORT
 */

const [port, upstreamPort] = process.argv.slice(2).map(Number);
if (port === undefined || upstreamPort === undefined)
  throw new Error('usage: minimal-proxy.js PORT UPSTREAM_PORT');
const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { keepAliveTimeout: 4_000 });

http
  .createServer((req, res) => {
    pool.dispatch(
      {
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: req.rawHeaders,
      },
      {
        onConnect() {},
        onHeaders(status, raw, resume) {
          const headers: string[] = [];
          for (let i = 0; i < raw.length; i += 2)
            headers.push((raw[i] as Buffer).toString('latin1'), (raw[i + 1] as Buffer).toString('latin1'));
          res.writeHead(status, headers);
          res.on('drain', resume);
          return true;
        },
        onData: (chunk) => res.write(chunk),
        onComplete: () => void res.end(),
        onError: () => void (res.headersSent ? res.destroy() : res.writeHead(502).end()),
      },
    );
  })
  .listen(port, '127.0.0.1');
