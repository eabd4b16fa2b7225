import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MusterError } from '../core/index.js';
import { hostNames, makeCellCertificates } from './cellca.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'muster-cellca-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('makeCellCertificates() makes a CA that signs a master and an agent certificate naming every host', async (t) => {
  const dir = join(tempDir(t), 'tls');
  const made = await makeCellCertificates({ dir, hosts: ['muster-1.example.org', '10.0.0.7'] });
  assert.equal(made.reusedCa, false);
  const ca = new X509Certificate(readFileSync(made.files.ca));
  assert.equal(ca.ca, true, 'ca.pem is a CA certificate');
  for (const [certFile, keyFile, cn] of [
    [made.files.masterCert, made.files.masterKey, 'muster master'],
    [made.files.agentCert, made.files.agentKey, 'muster agent'],
  ] as const) {
    const leaf = new X509Certificate(readFileSync(certFile));
    assert.equal(leaf.ca, false);
    assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), `${cn}: signed by the cell's CA`);
    assert.equal(leaf.subject, `CN=${cn}`);
    for (const name of ['DNS:muster-1.example.org', 'IP Address:10.0.0.7', 'DNS:localhost', 'IP Address:127.0.0.1']) {
      assert.ok(leaf.subjectAltName?.split(', ').includes(name), `${cn} names ${name}: ${leaf.subjectAltName}`);
    }
    assert.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(keyFile))), `${keyFile} is the key of ${certFile}`);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600, `${keyFile} is 0600`);
    assert.ok(new Date(leaf.validTo).getTime() <= new Date(ca.validTo).getTime(), 'a leaf never outlives its CA');
  }
  assert.equal(statSync(made.files.caKey).mode & 0o777, 0o600, 'ca-key.pem is 0600');
  assert.equal(statSync(dir).mode & 0o777, 0o700, 'the directory is 0700');
});

test('makeCellCertificates() run again keeps the CA and issues new certificates under it', async (t) => {
  const dir = tempDir(t);
  const first = await makeCellCertificates({ dir, hosts: ['a.example.org'] });
  const caBefore = readFileSync(first.files.ca, 'utf8');
  const second = await makeCellCertificates({ dir, hosts: ['b.example.org'], days: 30 });
  assert.equal(second.reusedCa, true);
  assert.equal(readFileSync(second.files.ca, 'utf8'), caBefore, 'ca.pem is untouched');
  const leaf = new X509Certificate(readFileSync(second.files.masterCert));
  assert.ok(leaf.checkIssued(new X509Certificate(caBefore)));
  assert.match(leaf.subjectAltName ?? '', /DNS:b\.example\.org/);
  assert.ok(new Date(leaf.validTo).getTime() - Date.now() < 31 * 86_400_000, '--days 30 is honoured');
});

test('makeCellCertificates() refuses a CA whose key is not its own', async (t) => {
  const root = tempDir(t);
  const a = await makeCellCertificates({ dir: join(root, 'a'), hosts: [] });
  const b = await makeCellCertificates({ dir: join(root, 'b'), hosts: [] });
  const mixed = join(root, 'mixed');
  await makeCellCertificates({ dir: mixed, hosts: [] });
  copyFileSync(a.files.ca, join(mixed, 'ca.pem'));
  copyFileSync(b.files.caKey, join(mixed, 'ca-key.pem'));
  await assert.rejects(makeCellCertificates({ dir: mixed, hosts: [] }), (e: unknown) => e instanceof MusterError && /is not its key/.test(e.message));
});

test('hostNames() adds the loopback names once and refuses what is neither a name nor an address', () => {
  assert.deepEqual(hostNames(['Muster-1', '[::1]', '10.0.0.7']), ['muster-1', '::1', '10.0.0.7', 'localhost', '127.0.0.1']);
  for (const bad of ['', 'a b', 'http://x', 'x..y', '-x', 'x/y']) {
    assert.throws(() => hostNames([bad]), (e: unknown) => e instanceof MusterError && e.code === 'INVALID_ARGUMENT', bad);
  }
});
