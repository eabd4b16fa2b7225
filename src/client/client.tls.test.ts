// MusterClient against a master that serves TLS with a cell's own CA: with the CA it works, for
// answers read whole (nodeFetch, as the CLI sends them, and the global fetch) and for streams;
// without it, it fails at once with a certificate error naming the cause, trying no other master.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { makeCellCertificates } from '../tls/index.js';
import { MusterClient, nodeFetch } from './index.js';

let server: Server;
let url = '';
let ca = '';
let dir = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'muster-client-tls-'));
  const made = await makeCellCertificates({ dir, hosts: [] });
  ca = readFileSync(made.files.ca, 'utf8');
  server = createServer({ cert: readFileSync(made.files.masterCert), key: readFileSync(made.files.masterKey) }, (req, res) => {
    if (req.url === '/api/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('id: 7\nevent: JobCreated\ndata: {"index":7,"type":"JobCreated"}\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"jobs":[]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('MusterClient with the cell CA reads whole answers over TLS, through nodeFetch and through fetch', async () => {
  assert.deepEqual(await new MusterClient({ masters: [url], ca, fetch: nodeFetch }).listJobs(), []);
  assert.deepEqual(await new MusterClient({ masters: [url], ca }).listJobs(), []);
});

test('MusterClient with the cell CA reads an event stream over TLS', async () => {
  const seen: number[] = [];
  await new MusterClient({ masters: [url], ca }).events((e) => seen.push(e.index), new AbortController().signal);
  assert.deepEqual(seen, [7]);
});

test('MusterClient without the CA fails with the certificate problem, and tries no other master', async () => {
  for (const fetch of [nodeFetch, undefined]) {
    // The second master would answer over plain HTTP: a refused certificate must not send the request elsewhere.
    const client = new MusterClient({ masters: [url, 'http://127.0.0.1:9'], ...(fetch === undefined ? {} : { fetch }) });
    await assert.rejects(client.listJobs(), (e: unknown) => {
      assert.ok(e instanceof MusterError, String(e));
      assert.equal(e.code, 'UNAVAILABLE');
      assert.match(e.message, /^cannot trust the master at https:\/\/127\.0\.0\.1:\d+: its certificate is not signed by a CA this client trusts \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)$/);
      assert.equal(e.details?.['tls'], 'untrusted');
      return true;
    });
  }
});
