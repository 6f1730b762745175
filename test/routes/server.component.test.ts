import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAfterEach, startRouteServer } from '../support/servers.js';

const { defer } = cleanupAfterEach(afterEach);

const canary = { url: 'http://podinfo-canary.shop:9898', weight: 10 };

/** One GET with Node's client; the raw headers, so that what the proxy of any version reads is checked. */
function poll(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      http
        .get(url, { headers, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        })
        .on('error', reject);
    },
  );
}

describe("the controller's route server", () => {
  it('answers a poll without If-None-Match at once, with the table as JSON and its version as ETag', async () => {
    const routes = await startRouteServer();
    defer(() => routes.close());
    const table = routes.store.set('shop', 'podinfo', canary);
    const answer = await poll(`${routes.url}/v1/routes/shop/podinfo`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers.etag).toBe(`"${table.version}"`);
    expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
    expect(JSON.parse(answer.body)).toEqual(table);
  });

  it('holds polls that know the version and answers all of them the new table when it changes', async () => {
    const routes = await startRouteServer();
    defer(() => routes.close());
    const first = routes.store.set('shop', 'podinfo', canary);
    const held = Array.from({ length: 5 }, () =>
      poll(`${routes.url}/v1/routes/shop/podinfo`, { 'if-none-match': `"${first.version}"` }),
    );
    // Wait until every poll is held, by the server's count of its connections.
    await new Promise<void>((resolve) => {
      const check = () =>
        routes.server.getConnections((_err, n) => (n === 5 ? resolve() : setTimeout(check, 10)));
      check();
    });
    const second = routes.store.set('shop', 'podinfo', { ...canary, weight: 20 });
    const answers = await Promise.all(held);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.headers.etag).toBe(`"${second.version}"`);
      expect(JSON.parse(answer.body)).toEqual(second);
    }
  });

  it('answers 304 with the ETag when a hold ends without a change, W/ and unquoted tags alike', async () => {
    const routes = await startRouteServer(50);
    defer(() => routes.close());
    const table = routes.store.set('shop', 'podinfo', canary);
    for (const tag of [`"${table.version}"`, `W/"${table.version}"`, table.version]) {
      const answer = await poll(`${routes.url}/v1/routes/shop/podinfo`, { 'if-none-match': tag });
      expect(answer.status).toBe(304);
      expect(answer.headers.etag).toBe(`"${table.version}"`);
    }
  });

  it('answers an unknown Deployment with the all-local table', async () => {
    const routes = await startRouteServer();
    defer(() => routes.close());
    const answer = await poll(`${routes.url}/v1/routes/shop/unknown`);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ version: 'local', canary: null });
  });
});
