import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority } from './pki.js';

/**
 * A real HTTPS server standing in for the API server, for testing what sluice's API client sends: every
 * request is recorded, and answered by `answer` (200 with `{}` by default; it may hold the answer back until
 * a test lets it go). `kubeconfigPath` points at it
 * with a CA it trusts and a token.
 */
export interface ApiStub {
  kubeconfigPath: string;
  requests: { method: string; path: string; authorization: string | undefined; body: string }[];
  /** TLS connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export const API_STUB_TOKEN = 'api-stub-token';

type Answer = { status: number; body: unknown };

export async function startApiStub(
  answer: (method: string, path: string) => Answer | Promise<Answer> = () => ({ status: 200, body: {} }),
): Promise<ApiStub> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-api-stub-'));
  const ca = await createCertificateAuthority(dir, 'sluice-api-stub-ca');
  const serving = await ca.issue('apiserver', ['127.0.0.1']);
  const requests: ApiStub['requests'] = [];
  let connections = 0;
  const server = https.createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const method = req.method ?? '';
      const path = req.url ?? '';
      requests.push({
        method,
        path,
        authorization: req.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const { status, body } = await answer(method, path);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(
    kubeconfigPath,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'stub',
          cluster: {
            server: `https://127.0.0.1:${port}`,
            'certificate-authority-data': Buffer.from(ca.cert).toString('base64'),
          },
        },
      ],
      users: [{ name: 'stub', user: { token: API_STUB_TOKEN } }],
      contexts: [{ name: 'stub', context: { cluster: 'stub', user: 'stub' } }],
      'current-context': 'stub',
    }),
  );
  return {
    kubeconfigPath,
    requests,
    connections: () => connections,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
