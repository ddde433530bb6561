// A self-signed certificate for localhost and 127.0.0.1, made by the openssl command for one test.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsCertificate {
  certFile: string;
  keyFile: string;
  /** PEM, for clients that take the certificate as their trust anchor. */
  cert: string;
  key: string;
  /** Deletes the files (a test's teardown). */
  remove(): void;
}

export function makeSelfSignedCertificate(): TlsCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-cert-'));
  chmodSync(dir, 0o755); // nginx workers and postgres read it as other users
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'pipe' });
  chmodSync(keyFile, 0o644);
  return {
    certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
