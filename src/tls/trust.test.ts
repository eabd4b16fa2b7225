import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, get, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCellCertificates } from './cellca.js';
import { certificateProblem, trustingDispatcher } from './trust.js';

/** server serves "ok" over TLS with a certificate of a fresh cell CA; it returns the CA's PEM. */
async function server(t: { after(fn: () => void | Promise<void>): void }): Promise<{ url: string; ca: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'muster-trust-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const made = await makeCellCertificates({ dir, hosts: [] });
  const s: Server = createServer({ cert: readFileSync(made.files.masterCert), key: readFileSync(made.files.masterKey) }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      }),
  );
  return { url: `https://localhost:${(s.address() as AddressInfo).port}/`, ca: readFileSync(made.files.ca, 'utf8') };
}

function httpsGet(url: string, ca?: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { ...(ca === undefined ? {} : { ca }), ...(servername === undefined ? {} : { servername }) }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

test('fetch through trustingDispatcher() trusts the cell CA; plain fetch refuses, and certificateProblem() says why', async (t) => {
  const { url, ca } = await server(t);
  const res = await fetch(url, { dispatcher: await trustingDispatcher(ca) });
  assert.equal(await res.text(), 'ok');
  assert.equal(await trustingDispatcher(ca), await trustingDispatcher(ca), 'one pool per CA');
  const err = await fetch(url).then(
    () => undefined,
    (e: unknown) => e,
  );
  const problem = certificateProblem(err);
  assert.ok(problem !== undefined, `a certificate problem: ${String(err)}`);
  assert.match(problem.why, /not signed by a CA this client trusts/);
});

test('node:https with the CA trusts the server; without it certificateProblem() names the code', async (t) => {
  const { url, ca } = await server(t);
  assert.equal(await httpsGet(url, ca), 'ok');
  const err = await httpsGet(url).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.match(certificateProblem(err)?.code ?? '', /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/);
  const wrongName = await httpsGet(url, ca, 'other.example.org').then(
    () => undefined,
    (e: unknown) => e,
  );
  // The certificate names localhost and the loopback addresses, not other.example.org.
  assert.equal(certificateProblem(wrongName)?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', String(wrongName));
});

test('certificateProblem() leaves other failures alone', () => {
  assert.equal(certificateProblem(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })), undefined);
  assert.equal(certificateProblem('text'), undefined);
  assert.equal(certificateProblem(Object.assign(new Error('write EPROTO 4096:error:0A00010B:SSL routines:ssl3_get_record:wrong version number'), { code: 'EPROTO' }))?.kind, 'not-tls');
});
