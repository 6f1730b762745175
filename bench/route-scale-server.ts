import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { RouteStore, createRouteHandler } from '../src/routes/server.js';
import { DEPLOYMENT, NAMESPACE, now, type ServerAnswer, type ServerRequest } from './route-scale-ipc.js';

/**
 * The route server of `npm run scale:routes`, in a process of its own so that its CPU and memory are its
 * own: the controller's RouteStore and long-poll handler, as `sluice controller` mounts them. Driven over
 * IPC by bench/route-scale.ts.
 */

const send = (answer: ServerAnswer) => process.send?.(answer);

const store = new RouteStore();
const handle = createRouteHandler(store);
let lastTableAt = 0;
const server = http.createServer((req, res) => {
  res.on('finish', () => {
    if (res.statusCode === 200) lastTableAt = now();
  });
  if (!handle(req, res)) {
    res.writeHead(404);
    res.end();
  }
});

function memoryMiB(field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
}

process.on('message', (request: ServerRequest) => {
  if ('set' in request) {
    const at = now();
    const table = store.set(NAMESPACE, DEPLOYMENT, request.set);
    send({ version: table.version, at });
    return;
  }
  if ('lastTable' in request) {
    send({ lastTableAt });
    return;
  }
  const cpu = process.cpuUsage();
  server.getConnections((_err, connections) =>
    send({
      cpuMs: (cpu.user + cpu.system) / 1000,
      rssMiB: memoryMiB('VmRSS'),
      peakRssMiB: memoryMiB('VmHWM'),
      connections,
    }),
  );
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => send({ port: (server.address() as AddressInfo).port }));
