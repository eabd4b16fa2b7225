// makeCellCertificates is `muster cell init-tls`: a small cell's own CA and the certificates its
// master and agents serve, so that a cell can run TLS without a PKI of its own. ECDSA P-256 keys
// made by Node's WebCrypto, certificates built by @peculiar/x509 (no hand-written ASN.1, no
// openssl binary). One master certificate and one agent certificate, each naming every host given
// (plus the loopback names), is what a small cell needs: every agent may serve the same one. A
// cell that wants a certificate per machine runs the command again with other --host names, in
// another directory, with the same CA files copied in: an existing CA is reused, never replaced.
//
//   ca.pem, ca-key.pem          the CA (10 years); give ca.pem to clients (--ca, --tls-ca)
//   master.pem, master-key.pem  the master's certificate (serverAuth, clientAuth)
//   agent.pem, agent-key.pem    the agents' certificate (serverAuth, and clientAuth to the master)
//
// Keys are written 0600, the directory made 0700. The library (and the Reflect polyfill it needs)
// is loaded by makeCellCertificates only: importing this module costs a process nothing.

import { createPrivateKey, randomBytes, webcrypto, X509Certificate as NodeCertificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type * as X509 from '@peculiar/x509';
import { MusterError } from '../core/index.js';
import { CA_DAYS, DEFAULT_CERT_DAYS, MAX_CERT_DAYS } from './lifetimes.js';

/** The names every certificate carries besides --host: a client on the same machine always works. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];
const MAX_HOSTS = 100;
const DAY_MS = 86_400_000;
/** Certificates start an hour back, so that a machine whose clock is a little behind accepts them. */
const BACKDATE_MS = 3_600_000;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;
type CryptoKey = webcrypto.CryptoKey;
type Lib = typeof X509;

/**
 * library loads @peculiar/x509, after the Reflect polyfill its dependency injection needs, and
 * gives it Node's WebCrypto to sign with (its declarations name the DOM's Crypto type, which this
 * project's compiler options leave out: the object is the same).
 */
async function library(): Promise<Lib> {
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as never);
  return x509;
}

export interface CellCertificatesOptions {
  dir: string;
  /** Names and IP addresses the master and agents are reached at. */
  hosts: readonly string[];
  /** Lifetime of the master and agent certificates (default 825 days); the CA lives 10 years. */
  days?: number;
  now?: Date;
}

export interface CellCertificates {
  dir: string;
  /** The files written (or, for the CA, kept), by role. */
  files: { ca: string; caKey: string; masterCert: string; masterKey: string; agentCert: string; agentKey: string };
  /** An existing ca.pem and ca-key.pem were used rather than a new CA made. */
  reusedCa: boolean;
  /** The subject alternative names of both certificates. */
  names: string[];
  notAfter: Date;
}

/** hostNames checks --host values and adds the loopback names, each once, IPs as IPs. */
export function hostNames(hosts: readonly string[]): string[] {
  if (hosts.length > MAX_HOSTS) throw new MusterError('INVALID_ARGUMENT', `at most ${MAX_HOSTS} --host names`);
  const out: string[] = [];
  for (const raw of [...hosts, ...LOOPBACK_NAMES]) {
    const h = raw.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
    const dns = h.length <= 253 && /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(h);
    if (isIP(h) === 0 && !dns) throw new MusterError('INVALID_ARGUMENT', `--host "${raw.slice(0, 100)}" is neither a DNS name nor an IP address`);
    if (!out.includes(h)) out.push(h);
  }
  return out;
}

export async function makeCellCertificates(options: CellCertificatesOptions): Promise<CellCertificates> {
  const days = options.days ?? DEFAULT_CERT_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_CERT_DAYS) throw new MusterError('INVALID_ARGUMENT', `--days must be a whole number from 1 to ${MAX_CERT_DAYS}, not ${days}`);
  const names = hostNames(options.hosts);
  const now = options.now ?? new Date();
  const dir = options.dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = {
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    masterCert: join(dir, 'master.pem'),
    masterKey: join(dir, 'master-key.pem'),
    agentCert: join(dir, 'agent.pem'),
    agentKey: join(dir, 'agent-key.pem'),
  };
  const x509 = await library();
  const reusedCa = existsSync(files.ca) || existsSync(files.caKey);
  const ca = reusedCa ? await loadCa(x509, files.ca, files.caKey) : await newCa(x509, now);
  if (!reusedCa) {
    writeSecret(files.caKey, ca.keyPem);
    writeFileSync(files.ca, ca.cert.toString('pem') + '\n', { mode: 0o644 });
  }
  // A leaf never outlives its CA: a client would refuse it from that day on anyway.
  const notAfter = new Date(Math.min(now.getTime() + days * DAY_MS, ca.cert.notAfter.getTime()));
  for (const [role, certFile, keyFile] of [
    ['master', files.masterCert, files.masterKey],
    ['agent', files.agentCert, files.agentKey],
  ] as const) {
    const leaf = await newLeaf(x509, ca, { cn: `muster ${role}`, names, notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter });
    writeSecret(keyFile, leaf.keyPem);
    writeFileSync(certFile, leaf.certPem, { mode: 0o644 });
  }
  return { dir, files, reusedCa, names, notAfter };
}

interface Ca {
  cert: X509.X509Certificate;
  key: CryptoKey;
  keyPem: string;
}

async function newCa(x509: Lib, now: Date): Promise<Ca> {
  const keys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: `CN=muster cell CA ${randomBytes(4).toString('hex')}`,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_DAYS * DAY_MS),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    },
  );
  return { cert, key: keys.privateKey, keyPem: await pkcs8Pem(keys.privateKey) };
}

/** loadCa reads a CA this command made before (or any ECDSA P-256 one), checking the key is the certificate's. */
async function loadCa(x509: Lib, certFile: string, keyFile: string): Promise<Ca> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(certFile, 'utf8');
    keyPem = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new MusterError('INVALID_ARGUMENT', `the directory holds half a CA: ${(err as NodeJS.ErrnoException).path ?? certFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); remove the other file or restore this one`);
  }
  let node: NodeCertificate;
  try {
    node = new NodeCertificate(certPem);
    if (!node.ca) throw new Error('it is not a CA certificate');
    if (!node.checkPrivateKey(createPrivateKey(keyPem))) throw new Error(`${keyFile} is not its key`);
  } catch (err) {
    throw new MusterError('INVALID_ARGUMENT', `cannot reuse the CA in ${certFile}: ${(err as Error).message}`);
  }
  const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  let key: CryptoKey;
  try {
    key = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
  } catch {
    throw new MusterError('INVALID_ARGUMENT', `cannot reuse the CA in ${certFile}: its key is not an ECDSA P-256 key, as muster cell init-tls makes`);
  }
  return { cert: new x509.X509Certificate(certPem), key, keyPem };
}

async function newLeaf(x509: Lib, ca: Ca, o: { cn: string; names: readonly string[]; notBefore: Date; notAfter: Date }): Promise<{ certPem: string; keyPem: string }> {
  const keys = await subtle.generateKey(ALG, true, ['sign', 'verify']);
  const san = o.names.map((value) => ({ type: isIP(value) === 0 ? ('dns' as const) : ('ip' as const), value }));
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${o.cn}`,
      issuer: ca.cert.subject,
      notBefore: o.notBefore,
      notAfter: o.notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.key,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(san),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
      ],
    },
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: await pkcs8Pem(keys.privateKey) };
}

/** serial: 16 random bytes, the top bit clear so that the DER integer stays positive. */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

/** writeSecret writes a key readable by its owner only, whatever mode a file of that name had. */
function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}
