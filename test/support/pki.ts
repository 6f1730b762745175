import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOrThrow } from './processes.js';

// Certificates for a throwaway test cluster, made with the machine's `openssl`. P-256 keys: generated in
// milliseconds, and accepted by every control plane component and by Node's TLS.

export interface CertificatePair {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface CertificateAuthority extends CertificatePair {
  /** A serving certificate for `hosts` (IP addresses or DNS names), valid for a day. */
  issue(name: string, hosts: readonly string[]): Promise<CertificatePair>;
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function subjectAltNames(hosts: readonly string[]): string {
  return hosts.map((host) => (/^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`)).join(',');
}

async function readPair(certPath: string, keyPath: string): Promise<CertificatePair> {
  return { certPath, keyPath, cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
}

/** A new CA whose files live in `dir`. */
export async function createCertificateAuthority(
  dir: string,
  commonName: string,
): Promise<CertificateAuthority> {
  const ca = join(dir, 'ca');
  // An explicit config, so the machine's openssl.cnf adds no extensions of its own.
  await writeFile(
    `${ca}.cnf`,
    [
      '[req]',
      'distinguished_name = dn',
      '[dn]',
      '[ca]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  await runOrThrow('openssl', [
    'req',
    '-x509',
    ...ecKey,
    '-config',
    `${ca}.cnf`,
    '-extensions',
    'ca',
    '-subj',
    `/CN=${commonName}`,
    '-days',
    '2',
    '-keyout',
    `${ca}.key`,
    '-out',
    `${ca}.crt`,
  ]);
  const pair = await readPair(`${ca}.crt`, `${ca}.key`);

  const issue = async (name: string, hosts: readonly string[]): Promise<CertificatePair> => {
    const base = join(dir, name);
    await writeFile(
      `${base}.ext`,
      [
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage = serverAuth,clientAuth',
        `subjectAltName = ${subjectAltNames(hosts)}`,
        '',
      ].join('\n'),
    );
    await runOrThrow('openssl', [
      'req',
      '-new',
      ...ecKey,
      '-config',
      `${ca}.cnf`,
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${base}.key`,
      '-out',
      `${base}.csr`,
    ]);
    await runOrThrow('openssl', [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      '1',
      '-extfile',
      `${base}.ext`,
      '-out',
      `${base}.crt`,
    ]);
    await rm(`${base}.csr`);
    return readPair(`${base}.crt`, `${base}.key`);
  };

  return { ...pair, issue };
}

/** An EC key pair for signing service account tokens: `<name>.key` (private) and `<name>.pub`. */
export async function createSigningKey(
  dir: string,
  name: string,
): Promise<{ keyPath: string; publicKeyPath: string }> {
  const keyPath = join(dir, `${name}.key`);
  const publicKeyPath = join(dir, `${name}.pub`);
  await runOrThrow('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath]);
  await runOrThrow('openssl', ['ec', '-in', keyPath, '-pubout', '-out', publicKeyPath]);
  return { keyPath, publicKeyPath };
}
