import http2 from 'node:http2';

/**
 * The cheapest HTTP/2 forwarder Node.js has: node:http2's server and one client session, each stream
 * piped to a stream on the upstream, trailers passed on, nothing else (no routing, no header rewriting,
 * no metrics, no resets passed on). What sluice's HTTP/2 path costs beyond Node's HTTP/2 itself is
 * measured against it.
 *
 * Usage: node minimal-h2-proxy.js PORT UPSTREAM_PORT
 */

const [port, upstreamPort] = process.argv.slice(2).map(Number);
if (port === undefined || upstreamPort === undefined)
  throw new Error('usage: minimal-h2-proxy.js PORT UPSTREAM_PORT');

let upstream: http2.ClientHttp2Session | undefined;
const session = (): http2.ClientHttp2Session => {
  if (upstream === undefined || upstream.closed || upstream.destroyed) {
    upstream = http2.connect(`http://127.0.0.1:${upstreamPort}`);
    upstream.on('error', () => undefined);
  }
  return upstream;
};

const server = http2.createServer();
server.on('stream', (stream, headers) => {
  const out: http2.OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) out[name] = headers[name];
  const request = session().request(out, { endStream: stream.endAfterHeaders });
  let trailers: http2.IncomingHttpHeaders | undefined;
  request.on('response', (answer) => {
    const fields: http2.OutgoingHttpHeaders = {};
    for (const name of Object.keys(answer)) fields[name] = answer[name];
    if (!stream.destroyed) stream.respond(fields, { waitForTrailers: true });
  });
  request.on('trailers', (t) => (trailers = t));
  stream.on('wantTrailers', () => stream.sendTrailers(trailers ?? {}));
  stream.pipe(request);
  request.pipe(stream);
  request.on('error', () => stream.destroy());
  stream.on('error', () => request.destroy());
});
server.listen(port, '127.0.0.1');
