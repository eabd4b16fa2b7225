// nodeFetch behind MusterClient behaves as fetch does for the answers the client reads whole:
// JSON answers and error bodies, a POST re-sent to the leader after a redirect, a master that
// refuses the connection, one that never answers, one that stops half way through a body.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { MusterError } from '../core/index.js';
import { MusterClient, nodeFetch } from './index.js';

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
});

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

async function serve(handler: Handler): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('nodeFetch', () => {
  test('nodeFetch answers with the status, headers and body, and sends a body with its length', async () => {
    const url = await serve((req, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-seen': `${req.method ?? ''} ${req.headers['content-length'] ?? ''} ${body}` });
      res.end('{"ok":true}');
    });
    const res = await nodeFetch(new URL(`${url}/x`), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'héllo' });
    assert.equal(res.status, 201);
    assert.equal(res.ok, true);
    assert.equal(res.url, `${url}/x`);
    assert.equal(res.headers.get('X-Seen'), 'POST 6 héllo');
    assert.equal(res.headers.get('x-missing'), null);
    assert.equal(await res.text(), '{"ok":true}');
  });

  test('MusterClient with nodeFetch reads answers and error bodies as with fetch', async () => {
    const url = await serve((req, res) => {
      if (req.url === '/api/v1/jobs') json(res, 200, { jobs: [] });
      else json(res, 404, { error: { code: 'JOB_NOT_FOUND', message: 'no job web/prod/x', details: { job: 'web/prod/x' } } });
    });
    const client = new MusterClient({ masters: [url], fetch: nodeFetch });
    assert.deepEqual(await client.listJobs(), []);
    await assert.rejects(client.getJob('web/prod/x'), (err: unknown) => {
      assert.ok(err instanceof MusterError);
      assert.equal(err.code, 'JOB_NOT_FOUND');
      assert.deepEqual(err.details, { job: 'web/prod/x' });
      return true;
    });
  });

  test('MusterClient with nodeFetch follows a 307 to the leader and re-sends the POST with its body', async () => {
    const leader = await serve((_req, res, body) => json(res, 201, { job: 'web/prod/hello', instances: body.length }));
    const standby = await serve((_req, res) => {
      res.writeHead(307, { location: `${leader}/api/v1/jobs` });
      res.end('redirecting');
    });
    const client = new MusterClient({ masters: [standby], fetch: nodeFetch });
    const created = await client.createJob('job: web/prod/hello\n', { contentType: 'application/yaml' });
    assert.deepEqual(created, { job: 'web/prod/hello', instances: 'job: web/prod/hello\n'.length });
    assert.equal(client.knownLeader, leader);
  });

  test('MusterClient with nodeFetch says a master that refuses the connection is unreachable, and tries the next', async () => {
    const dead = await serve(() => undefined);
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 50));
    const client = new MusterClient({ masters: [dead], fetch: nodeFetch, timeoutMs: 2000 });
    await assert.rejects(client.listJobs(), (err: unknown) => {
      assert.ok(err instanceof MusterError);
      assert.equal(err.code, 'UNAVAILABLE');
      assert.match(err.message, /^cannot reach the master at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/);
      return true;
    });
    const alive = await serve((_req, res) => json(res, 200, { jobs: [] }));
    assert.deepEqual(await new MusterClient({ masters: [dead, alive], fetch: nodeFetch }).listJobs(), []);
  });

  test('MusterClient with nodeFetch times out on a master that never answers, or stops half way through a body', async () => {
    const silent = await serve(() => undefined);
    const client = new MusterClient({ masters: [silent], fetch: nodeFetch, timeoutMs: 300 });
    await assert.rejects(client.listJobs(), (err: unknown) => err instanceof MusterError && err.code === 'TIMEOUT' && /did not answer GET \/api\/v1\/jobs within 0\.3s/.test(err.message));
    const halfway = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"jobs": [');
    });
    const stalled = new MusterClient({ masters: [halfway], fetch: nodeFetch, timeoutMs: 300 });
    await assert.rejects(stalled.listJobs(), (err: unknown) => err instanceof MusterError && err.code === 'TIMEOUT');
  });

  test('MusterClient with nodeFetch says so when the connection breaks in the middle of a body', async () => {
    const broken = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"jobs": [');
      setTimeout(() => req.socket.destroy(), 20);
    });
    const client = new MusterClient({ masters: [broken], fetch: nodeFetch, timeoutMs: 2000 });
    await assert.rejects(client.listJobs(), (err: unknown) => err instanceof MusterError && err.code === 'UNAVAILABLE' && /broke while reading GET \/api\/v1\/jobs/.test(err.message));
  });
});
