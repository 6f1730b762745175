import { readCertDir } from '../webhook/certs.js';
import { createWebhookServer, readBody } from '../webhook/server.js';

/**
 * The webhook benchmark's baseline, run as its own process: the webhook's HTTPS server (same TLS settings,
 * same certificate, the same body reading) reading each review whole and answering it with a static allow,
 * without parsing it. The webhook's figures over this one are what parsing and admitting cost beyond the
 * transport.
 *
 * Usage: node allow-server.js PORT CERT_DIR
 */

const [port, certDir] = process.argv.slice(2);
if (port === undefined || certDir === undefined) throw new Error('usage: allow-server.js PORT CERT_DIR');
const certs = await readCertDir(certDir);
if (certs === undefined) throw new Error(`no tls.crt and tls.key in ${certDir}`);

const ALLOW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid: '0d6c1e7a-3b2f-4c9d-8e1a-5f4b3c2d1e0f', allowed: true },
});

const LIMIT = 8 * 1024 * 1024;
createWebhookServer(
  (req, res) => {
    readBody(req, LIMIT).then(
      () => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(ALLOW),
        });
        res.end(ALLOW);
      },
      () => res.destroy(),
    );
  },
  { credentials: { cert: certs.cert, key: certs.key } },
).listen(Number(port), '127.0.0.1');
