import https from 'node:https';

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
