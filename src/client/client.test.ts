import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { MusterError } from '../core/index.js';
import type { EventView } from '../protocol/index.js';
import { MusterClient, normalizeMaster, SseParser } from './index.js';

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** serve starts a real HTTP server on a free port that records what it was asked. */
async function serve(handler: Handler): Promise<{ url: string; port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, seen, server };
}

/** deadPort is a port on which nothing listens: a server is started, its port noted, and closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
});

describe('MusterClient', () => {
  test('createJob() follows a scheme-relative 307 to the leader and re-sends the POST with its body', async () => {
    const leader = await serve((_req, res) => json(res, 201, { job: 'web/prod/hello', instances: 3 }));
    const standby = await serve((req, res) => {
      res.writeHead(307, { location: `//127.0.0.1:${leader.port}${req.url ?? ''}` });
      res.end();
    });
    const client = new MusterClient({ masters: [standby.url] });
    const created = await client.createJob('job: web/prod/hello\n', { contentType: 'application/yaml', job: 'web/prod/hello' });
    assert.deepEqual(created, { job: 'web/prod/hello', instances: 3 });
    assert.equal(standby.seen.length, 1);
    assert.deepEqual(leader.seen, [
      { method: 'POST', url: '/api/v1/jobs?job=web%2Fprod%2Fhello', contentType: 'application/yaml', body: 'job: web/prod/hello\n' },
    ]);
    assert.equal(client.knownLeader, leader.url);

    await client.createJob('{}', { contentType: 'application/json' });
    assert.equal(standby.seen.length, 1, 'the second request goes straight to the leader it learnt');
    assert.equal(leader.seen[1]?.contentType, 'application/json');
  });

  test('a redirect to a bare leader address keeps the path and query', async () => {
    const leader = await serve((_req, res) => json(res, 200, { tasks: [] }));
    const standby = await serve((_req, res) => {
      res.writeHead(307, { location: `//127.0.0.1:${leader.port}` });
      res.end();
    });
    const client = new MusterClient({ masters: [standby.url] });
    assert.deepEqual(await client.listTasks({ job: 'web/prod/hello', all: true }), []);
    assert.equal(leader.seen[0]?.url, '/api/v1/tasks?job=web%2Fprod%2Fhello&all=true');
  });

  test('redirects that never reach a leader stop after three hops', async () => {
    const loop = await serve((req, res) => {
      res.writeHead(307, { location: req.url ?? '/' });
      res.end();
    });
    const client = new MusterClient({ masters: [loop.url] });
    await assert.rejects(client.cell(), (err: unknown) => err instanceof MusterError && err.code === 'UNAVAILABLE');
    assert.equal(loop.seen.length, 4);
  });

  test('an error answer becomes a MusterError with the code, message and details of its body', async () => {
    const master = await serve((_req, res) =>
      json(res, 404, { error: { code: 'JOB_NOT_FOUND', message: 'job web/prod/nope does not exist', details: { job: 'web/prod/nope' } } }),
    );
    const client = new MusterClient({ masters: [master.url] });
    await assert.rejects(client.getJob('web/prod/nope'), (err: unknown) => {
      assert.ok(err instanceof MusterError);
      assert.equal(err.code, 'JOB_NOT_FOUND');
      assert.equal(err.message, 'job web/prod/nope does not exist');
      assert.deepEqual(err.details, { job: 'web/prod/nope' });
      return true;
    });
    assert.equal(master.seen[0]?.url, '/api/v1/jobs/web/prod/nope');
  });

  test('an error answer without our body gets a code from its status', async () => {
    const master = await serve((_req, res) => {
      res.writeHead(409, { 'content-type': 'text/plain' });
      res.end('conflict');
    });
    const client = new MusterClient({ masters: [master.url] });
    await assert.rejects(client.killJob('web/prod/hello', [1]), (err: unknown) => err instanceof MusterError && err.code === 'JOB_EXISTS');
    assert.deepEqual(JSON.parse(master.seen[0]?.body ?? ''), { instances: [1] });
  });

  test('a refused connection moves on to the next master', async () => {
    const port = await deadPort();
    const master = await serve((_req, res) => json(res, 200, { jobs: [] }));
    const client = new MusterClient({ masters: [`127.0.0.1:${port}`, master.url] });
    assert.deepEqual(await client.listJobs(), []);
  });

  test('when no master can be reached the error is UNAVAILABLE, retryable, and names every master', async () => {
    const a = await deadPort();
    const b = await deadPort();
    const client = new MusterClient({ masters: [`http://127.0.0.1:${a}`, `http://127.0.0.1:${b}`] });
    await assert.rejects(client.cell(), (err: unknown) => {
      assert.ok(err instanceof MusterError);
      assert.equal(err.code, 'UNAVAILABLE');
      assert.equal(err.retryable, true);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${a}.*127\\.0\\.0\\.1:${b}`));
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });

  test('a master that answers 503 is passed over for the next one', async () => {
    const standby = await serve((_req, res) => json(res, 503, { error: { code: 'UNAVAILABLE', message: 'no leader yet' } }));
    const master = await serve((_req, res) => json(res, 200, { jobs: [] }));
    const client = new MusterClient({ masters: [standby.url, master.url] });
    assert.deepEqual(await client.listJobs(), []);
  });

  test('a standby that knows no leader (503 NOT_LEADER) is passed over; with no other master the error is NOT_LEADER', async () => {
    const standby = await serve((_req, res) => json(res, 503, { error: { code: 'NOT_LEADER', message: 'no leader is known yet; retry' } }));
    const master = await serve((_req, res) => json(res, 200, { jobs: [] }));
    assert.deepEqual(await new MusterClient({ masters: [standby.url, master.url] }).listJobs(), []);
    await assert.rejects(new MusterClient({ masters: [standby.url], timeoutMs: 600 }).listJobs(), (err: unknown) => err instanceof MusterError && err.code === 'NOT_LEADER');
  });

  test('during a failover (no leader yet) a request is asked again until a leader answers', async () => {
    let asked = 0;
    const standby = await serve((_req, res) => {
      asked++;
      if (asked <= 2) json(res, 503, { error: { code: 'NOT_LEADER', message: 'no leader is known yet; retry' } });
      else json(res, 200, { jobs: [] });
    });
    assert.deepEqual(await new MusterClient({ masters: [standby.url] }).listJobs(), []);
    assert.equal(asked, 3);
  });

  test('a master that does not answer in time gives TIMEOUT', async () => {
    const silent = await serve(() => undefined);
    const client = new MusterClient({ masters: [silent.url], timeoutMs: 200 });
    await assert.rejects(client.cell(), (err: unknown) => err instanceof MusterError && err.code === 'TIMEOUT');
  });

  test('events() delivers each streamed event, whatever the chunking, and resolves on abort', async () => {
    const master = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hello\n\nid: 1\nevent: JobCreated\ndata: {"index":1,"type":"JobCreated","at":5,');
      setTimeout(() => res.write('"job":"web/prod/hello"}\n\nid: 2\r\nevent: TaskLaunched\r\ndata: {"index":2,"type":"TaskLaunched","at":6}\r\n\r\n'), 20);
    });
    const client = new MusterClient({ masters: [master.url], timeoutMs: 200 });
    const controller = new AbortController();
    const got: EventView[] = [];
    await client.events((e) => {
      got.push(e);
      if (got.length === 2) controller.abort();
    }, controller.signal);
    assert.deepEqual(got, [
      { index: 1, type: 'JobCreated', at: 5, job: 'web/prod/hello' },
      { index: 2, type: 'TaskLaunched', at: 6 },
    ]);
  });

  test('an event stream outlives the request timeout once it is open', async () => {
    const master = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      setTimeout(() => res.end('data: {"index":1,"type":"X","at":1}\n\n'), 300);
    });
    const client = new MusterClient({ masters: [master.url], timeoutMs: 100 });
    const got: EventView[] = [];
    await client.events((e) => got.push(e), new AbortController().signal);
    assert.equal(got.length, 1);
  });
});

describe('events() with reconnect', () => {
  test('events() reconnects after the stream ends, sending the last index it delivered as Last-Event-ID', async () => {
    const asked: (string | undefined)[] = [];
    const master = await serve((req, res) => {
      const id = req.headers['last-event-id'];
      asked.push(typeof id === 'string' ? id : undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Each connection sends the two events after the id it was given, then ends: a dropped stream.
      const from = Number(id ?? '0');
      res.end(`retry: 10\n\n${[from + 1, from + 2].map((i) => `id: ${i}\nevent: X\ndata: {"index":${i},"type":"X","at":${i}}\n\n`).join('')}`);
    });
    const client = new MusterClient({ masters: [master.url], timeoutMs: 500 });
    const controller = new AbortController();
    const got: number[] = [];
    await client.events(
      (e) => {
        got.push(e.index);
        if (got.length === 6) controller.abort();
      },
      controller.signal,
      { since: 0, reconnect: true },
    );
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(asked, ['0', '2', '4']);
  });

  test('events() keeps trying while the master cannot be reached, and resumes where it was', async () => {
    let calls = 0;
    const asked: (string | undefined)[] = [];
    const master = await serve((req, res) => {
      calls++;
      asked.push(req.headers['last-event-id'] as string | undefined);
      if (calls === 2) {
        json(res, 503, { error: { code: 'UNAVAILABLE', message: 'restarting' } });
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`retry: 10\n\nid: ${calls}\nevent: X\ndata: {"index":${calls},"type":"X","at":1}\n\n`);
    });
    const client = new MusterClient({ masters: [master.url], timeoutMs: 100 });
    const controller = new AbortController();
    const got: number[] = [];
    await client.events(
      (e) => {
        got.push(e.index);
        if (got.length === 2) controller.abort();
      },
      controller.signal,
      { reconnect: true },
    );
    assert.deepEqual(got, [1, 3]);
    assert.equal(asked[0], undefined, 'the first connection asks for live events only');
    assert.ok(asked.slice(1).every((id) => id === '1'), `every reconnection resumes after 1: ${asked.join(',')}`);
  });

  test('events() hands a reset to onReset and goes on after its index', async () => {
    const master = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const reset = { index: 40, since: 3, firstIndex: 31, reason: 'TRUNCATED', message: 'gone' };
      res.write(`id: 40\nevent: reset\ndata: ${JSON.stringify(reset)}\n\nid: 41\nevent: X\ndata: {"index":41,"type":"X","at":1}\n\n`);
    });
    const client = new MusterClient({ masters: [master.url] });
    const controller = new AbortController();
    const resets: unknown[] = [];
    const got: number[] = [];
    await client.events(
      (e) => {
        got.push(e.index);
        controller.abort();
      },
      controller.signal,
      { since: 3, onReset: (r) => resets.push(r) },
    );
    assert.deepEqual(resets, [{ index: 40, since: 3, firstIndex: 31, reason: 'TRUNCATED', message: 'gone' }]);
    assert.deepEqual(got, [41]);
  });

  test('events() without onReset rejects a reset with CONFLICT rather than skip events silently', async () => {
    const master = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`id: 9\nevent: reset\ndata: ${JSON.stringify({ index: 9, since: 20, firstIndex: 1, reason: 'AHEAD', message: 'the log ends at 9' })}\n\n`);
    });
    const client = new MusterClient({ masters: [master.url] });
    await assert.rejects(
      client.events(() => undefined, new AbortController().signal, { since: 20, reconnect: true }),
      (err: unknown) => err instanceof MusterError && err.code === 'CONFLICT' && /the log ends at 9/.test(err.message),
    );
  });

  test('events() with reconnect still fails at once on a request the master refuses', async () => {
    const master = await serve((_req, res) => json(res, 400, { error: { code: 'INVALID_ARGUMENT', message: 'since must be a log index' } }));
    const client = new MusterClient({ masters: [master.url] });
    await assert.rejects(
      client.events(() => undefined, new AbortController().signal, { since: 1, reconnect: true }),
      (err: unknown) => err instanceof MusterError && err.code === 'INVALID_ARGUMENT',
    );
  });
});

describe('normalizeMaster', () => {
  test('normalizeMaster() adds http:// to host:port and drops a trailing slash', () => {
    assert.equal(normalizeMaster('10.0.0.1:5050'), 'http://10.0.0.1:5050');
    assert.equal(normalizeMaster('https://m.example/'), 'https://m.example');
  });

  test('normalizeMaster() refuses what is not an http URL', () => {
    assert.throws(() => normalizeMaster('ftp://x'), /http/);
  });
});

describe('SseParser', () => {
  test('SseParser joins multi-line data and waits for the LF after a trailing CR', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('data: a\ndata: b\r'), []);
    assert.deepEqual(p.push('\n\r\n'), [{ id: undefined, event: 'message', data: 'a\nb' }]);
  });

  test('SseParser keeps the retry the server asks for and ignores one that is not a number', () => {
    const p = new SseParser();
    p.push('retry: 2500\n\nretry: soon\n\n');
    assert.equal(p.retryMs, 2500);
  });
});
