import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertInstalled } from './redis-server';

/** PEM files made for one test: a CA, a server certificate it signed, and an unrelated CA. */
export interface TlsFiles {
  readonly dir: string;
  /** The CA that signed the server certificate (what REDIS_TLS_CA_FILE should name). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** A CA that signed nothing the server has: a gateway trusting only it must refuse the server. */
  readonly otherCa: string;
  /** Removes the folder. */
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  ]);
}

/**
 * Makes a CA and a server certificate for 127.0.0.1 and localhost with `openssl`, in a fresh
 * temporary folder: nothing is checked in, and nothing outlives the test that calls remove().
 */
export function makeTlsFiles(): TlsFiles {
  assertInstalled('openssl', 'openssl', ['version']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokens-bff-redis-tls-'));
  makeCa(dir, 'test-ca');
  makeCa(dir, 'other-ca');
  // Node checks the address it dialled against the subjectAltName, so both forms are in it.
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'test-ca.crt',
    '-CAkey',
    'test-ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'server.ext',
    '-out',
    'server.crt',
  ]);
  return {
    dir,
    ca: path.join(dir, 'test-ca.crt'),
    cert: path.join(dir, 'server.crt'),
    key: path.join(dir, 'server.key'),
    otherCa: path.join(dir, 'other-ca.crt'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
