// TLS test helpers: certificates generated at test time with the openssl CLI
// (ECDSA P-256 throughout), loopback listeners, and child-process peers.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certs {
  dir: string;
  ca: string;
  /** localhost + 127.0.0.1, signed by ca. */
  cert: string;
  key: string;
  /** A chain (leaf, then ca): for servers that send the intermediate. */
  wrongHostCert: string;
  wrongHostKey: string;
  expiredCert: string;
  expiredKey: string;
  selfSignedCert: string;
  selfSignedKey: string;
  /** A second CA that signed nothing we use. */
  otherCa: string;
  paths: { ca: string; cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
}

let cached: Certs | null = null;

/** Generate the test PKI once per process (removed at exit). */
export function certs(): Certs {
  if (cached !== null) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'um-tls-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const caExt = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
  writeFileSync(join(dir, 'ca.ext'), caExt);
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=uringmachine test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.pem', '-days', '30', '-subj', '/CN=other CA', '-addext', 'basicConstraints=critical,CA:TRUE'], dir);
  const leaf = (name: string, san: string): void => {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
  };
  leaf('server', 'DNS:localhost,IP:127.0.0.1');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '2', '-days', '30', '-extfile', 'server.ext', '-out', 'server.pem'], dir);
  leaf('wrong', 'DNS:other.example');
  openssl(['x509', '-req', '-in', 'wrong.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '3', '-days', '30', '-extfile', 'wrong.ext', '-out', 'wrong.pem'], dir);
  // Expired: `openssl ca` can backdate (-startdate/-enddate); x509 -req cannot in OpenSSL 3.0.
  leaf('expired', 'DNS:localhost,IP:127.0.0.1');
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '10\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca=d\n[d]\ndir=${dir}\ndatabase=${dir}/index.txt\nnew_certs_dir=${dir}\nserial=${dir}/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n`,
  );
  openssl(['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.pem', '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extfile', 'expired.ext'], dir);
  openssl(['req', '-x509', ...ec, '-keyout', 'self.key', '-out', 'self.pem', '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  const r = (f: string): string => readFileSync(join(dir, f), 'utf8');
  cached = {
    dir,
    ca: r('ca.pem'),
    cert: r('server.pem'),
    key: r('server.key'),
    wrongHostCert: r('wrong.pem'),
    wrongHostKey: r('wrong.key'),
    expiredCert: r('expired.pem'),
    expiredKey: r('expired.key'),
    selfSignedCert: r('self.pem'),
    selfSignedKey: r('self.key'),
    otherCa: r('other-ca.pem'),
    paths: { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') },
  };
  return cached;
}

/** Bytes with a recognisable pattern (position-dependent), for byte-exact checks. */
export function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    if (i + 4 <= n) b.writeUInt32LE(x, i);
    else for (let j = i; j < n; j++) b[j] = (x >>> ((j - i) * 8)) & 0xff;
  }
  return b;
}
