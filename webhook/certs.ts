import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/**
 * The webhook's serving certificate: read from a directory (a mounted Secret, cert-manager's or ours) and
 * re-read when it changes, or generated with its own CA for the names the API server dials.
 */

export interface Certificates {
  /** PEM of the CA that signed the serving cert: what goes into the webhook configuration's caBundle. */
  ca: string | undefined;
  cert: string;
  key: string;
}

export const CA_FILE = 'ca.crt';
export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';

export class CertificatesUnreadableError extends Error {
  readonly code = 'CertificatesUnreadable';
  constructor(dir: string, options?: ErrorOptions) {
    super(`cannot read ${CERT_FILE} and ${KEY_FILE} in ${dir}`, options);
    this.name = 'CertificatesUnreadableError';
  }
}

/** The certificates in a directory, or undefined when it has no tls.crt/tls.key pair yet. */
export async function readCertDir(dir: string): Promise<Certificates | undefined> {
  const read = (name: string) =>
    readFile(join(dir, name), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new CertificatesUnreadableError(dir, { cause: err });
    });
  const [ca, cert, key] = await Promise.all([read(CA_FILE), read(CERT_FILE), read(KEY_FILE)]);
  if (cert === undefined || key === undefined) return undefined;
  return { ca, cert, key };
}

export async function writeCertDir(dir: string, certs: Certificates): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (certs.ca !== undefined) await writeFile(join(dir, CA_FILE), certs.ca);
  await writeFile(join(dir, CERT_FILE), certs.cert);
  await writeFile(join(dir, KEY_FILE), certs.key, { mode: 0o600 });
}

export interface GenerateOptions {
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  now?: Date;
  validDays?: number;
}

/** A CA and a serving certificate it signs, for the given names and addresses. EC P-256: fast to make. */
export async function generateCertificates(options: GenerateOptions): Promise<Certificates> {
  const { dnsNames, ipAddresses, now = new Date(), validDays = 3650 } = options;
  const notBeforeDate = new Date(now.getTime() - 60_000);
  const notAfterDate = new Date(now.getTime() + validDays * 86_400_000);
  const common = {
    keyType: 'ec' as const,
    curve: 'P-256' as const,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
  };
  const ca = await generate([{ name: 'commonName', value: 'sluice-webhook-ca' }], {
    ...common,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const serving = await generate(
    [{ name: 'commonName', value: dnsNames[0] ?? ipAddresses[0] ?? 'sluice-webhook' }],
    {
      ...common,
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            ...dnsNames.map((value) => ({ type: 2 as const, value })),
            ...ipAddresses.map((ip) => ({ type: 7 as const, ip })),
          ],
        },
      ],
    },
  );
  return { ca: ca.cert, cert: serving.cert, key: serving.private };
}

export function isIpAddress(text: string): boolean {
  return isIP(text) !== 0;
}

/**
 * Calls `onChange` with the new certificates whenever the directory's pair changes. A mounted Secret is
 * updated by swapping a symlink, which shows as a rename in the directory, so the directory is watched,
 * and events are gathered for a moment before reading, since a pair is written in several steps.
 */
export function watchCertDir(
  dir: string,
  onChange: (certs: Certificates) => void,
  onError: (err: unknown) => void,
  settleMs = 200,
): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  const reload = (): void => {
    readCertDir(dir).then((certs) => {
      if (certs === undefined) return;
      const fingerprint = certs.cert + certs.key;
      if (fingerprint === last) return;
      last = fingerprint;
      onChange(certs);
    }, onError);
  };
  readCertDir(dir).then((certs) => {
    last ??= certs === undefined ? undefined : certs.cert + certs.key;
  }, onError);
  const watcher = watch(dir, () => {
    clearTimeout(timer);
    timer = setTimeout(reload, settleMs);
  });
  watcher.on('error', onError);
  watcher.on('close', () => clearTimeout(timer));
  return watcher;
}
