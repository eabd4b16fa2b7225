import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HealthCheck } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { HealthChecker, type CommandResult, type HealthCheckerOptions } from './health.js';

/** check is a health check with quick timings and no grace period; a test overrides what it is about. */
function check(overrides: Partial<HealthCheck>): HealthCheck {
  return { gracePeriodSecs: 0, intervalSecs: 0.1, timeoutSecs: 5, consecutiveFailures: 1, ...overrides };
}

/** until waits for cond, polling; the deadline only keeps a broken test from hanging. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await sleep(5);
  }
  assert.fail(`gave up waiting for ${what}`);
}

/** Recorder holds what a checker reported, in order. */
interface Recorder {
  changes: { healthy: boolean; detail: string }[];
  unhealthy: string[];
}

/** checker builds a HealthChecker that records its callbacks and is stopped when the test ends. */
function checker(
  t: TestContext,
  options: Partial<HealthCheckerOptions> & { check: HealthCheck },
): { checker: HealthChecker; seen: Recorder } {
  const seen: Recorder = { changes: [], unhealthy: [] };
  const c = new HealthChecker({
    ports: {},
    runCommand: () => Promise.reject(new Error('no command in this test')),
    onHealthChange: (healthy, detail) => seen.changes.push({ healthy, detail }),
    onUnhealthy: (detail) => seen.unhealthy.push(detail),
    logger: silentLogger,
    ...options,
  });
  t.after(() => c.stop());
  return { checker: c, seen };
}

/**
 * httpServer listens on a free port of 127.0.0.1 and answers each request with answer(hit, req,
 * res), hit counting from 1. It is closed, with its connections, when the test ends.
 */
async function httpServer(
  t: TestContext,
  answer: (hit: number, req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; hits: () => number; paths: string[] }> {
  let hits = 0;
  const paths: string[] = [];
  const server = createHttpServer((req, res) => {
    hits++;
    paths.push(req.url ?? '');
    answer(hits, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, hits: () => hits, paths };
}

/** status answers every request with one status. */
function status(code: number): (hit: number, req: IncomingMessage, res: ServerResponse) => void {
  return (_hit, _req, res) => {
    res.writeHead(code).end('body that the checker does not read');
  };
}

/** freePort is a port nothing listens on: a server's, just closed. */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * shell runs command checks as `sh -c cmd` in a process group of their own, as the supervisor's
 * enter mode would, and kills the groups still running when the test ends (killing sh alone would
 * leave its children holding the pipes open). It leaves timeouts to the checker's own deadline.
 * calls() counts the commands started.
 */
function shell(t: TestContext): { runCommand: (cmd: string) => Promise<CommandResult>; calls: () => number } {
  const children = new Set<ChildProcess>();
  let calls = 0;
  t.after(() => {
    for (const child of children) {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group ended on its own in the meantime.
      }
    }
  });
  const runCommand = (cmd: string): Promise<CommandResult> =>
    new Promise((resolve, reject) => {
      calls++;
      const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      children.add(child);
      let output = '';
      const collect = (chunk: Buffer): void => {
        if (output.length < 4096) output += chunk.toString('utf8');
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      child.once('error', reject);
      child.once('close', (code) => {
        children.delete(child);
        resolve({ exitCode: code, output });
      });
    });
  return { runCommand, calls: () => calls };
}

test('an http check is healthy when the task answers 2xx or 3xx, and does not follow redirects', async (t) => {
  const server = await httpServer(t, (_hit, req, res) => {
    if (req.url === '/ready') res.writeHead(302, { location: '/elsewhere' }).end();
    else res.writeHead(500).end();
  });
  const { checker: c, seen } = checker(t, { check: check({ http: { port: 'http', path: '/ready', statuses: [] } }), ports: { http: server.port } });
  c.start();
  await until(() => seen.changes.length === 1, 'the first result');
  assert.deepEqual(seen.changes, [{ healthy: true, detail: `GET http://127.0.0.1:${server.port}/ready answered 302` }]);
  assert.equal(c.healthy, true);
  c.stop();
  assert.ok(server.paths.every((p) => p === '/ready'), `the checker asked only for /ready, not ${server.paths.join(', ')}`);
});

test('an http check fails on a 5xx answer and reports the status', async (t) => {
  const server = await httpServer(t, status(500));
  const { checker: c, seen } = checker(t, { check: check({ http: { port: 'http', path: '/', statuses: [] } }), ports: { http: server.port } });
  c.start();
  await until(() => seen.unhealthy.length === 1, 'the task to be unhealthy');
  const detail = `GET http://127.0.0.1:${server.port}/ answered 500`;
  assert.deepEqual(seen.changes, [{ healthy: false, detail }]);
  assert.deepEqual(seen.unhealthy, [detail]);
  assert.equal(c.healthy, false);
  assert.equal(c.consecutiveFailures, 1);
});

test('an http check with statuses counts only those as healthy', async (t) => {
  const accepted = await httpServer(t, status(503));
  const refused = await httpServer(t, status(200));
  const http = { port: 'http', path: '/', statuses: [503] };
  const a = checker(t, { check: check({ http }), ports: { http: accepted.port } });
  const b = checker(t, { check: check({ http }), ports: { http: refused.port } });
  a.checker.start();
  b.checker.start();
  await until(() => a.seen.changes.length === 1 && b.seen.unhealthy.length === 1, 'both results');
  assert.equal(a.checker.healthy, true);
  assert.deepEqual(b.seen.unhealthy, [`GET http://127.0.0.1:${refused.port}/ answered 200`]);
});

test('an http check that gets no answer within its timeout fails', async (t) => {
  const server = await httpServer(t, () => undefined);
  const { checker: c, seen } = checker(t, {
    check: check({ http: { port: 'http', path: '/slow', statuses: [] }, timeoutSecs: 0.2 }),
    ports: { http: server.port },
  });
  c.start();
  await until(() => seen.unhealthy.length === 1, 'the timeout');
  assert.deepEqual(seen.unhealthy, [`GET http://127.0.0.1:${server.port}/slow timed out after 0.2s`]);
});

test('a tcp check is healthy when the port accepts a connection and fails when it is closed', async (t) => {
  const server = createTcpServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const open = (server.address() as AddressInfo).port;
  const closed = await freePort();
  const a = checker(t, { check: check({ tcp: { port: 'admin' } }), ports: { admin: open } });
  const b = checker(t, { check: check({ tcp: { port: 'admin' } }), ports: { admin: closed } });
  a.checker.start();
  b.checker.start();
  await until(() => a.seen.changes.length === 1 && b.seen.unhealthy.length === 1, 'both results');
  assert.deepEqual(a.seen.changes, [{ healthy: true, detail: `connect to 127.0.0.1:${open} succeeded` }]);
  assert.deepEqual(b.seen.unhealthy, [`connect to 127.0.0.1:${closed} failed: ECONNREFUSED`]);
});

test('a command check passes on exit 0 and fails on another status, quoting the output', async (t) => {
  const { runCommand } = shell(t);
  const a = checker(t, { check: check({ command: { cmd: 'true' } }), runCommand });
  const b = checker(t, { check: check({ command: { cmd: 'echo "not ready"; echo yet >&2; exit 1' } }), runCommand });
  a.checker.start();
  b.checker.start();
  await until(() => a.seen.changes.length === 1 && b.seen.unhealthy.length === 1, 'both results');
  assert.equal(a.checker.healthy, true);
  assert.deepEqual(a.seen.changes, [{ healthy: true, detail: 'command exited with status 0' }]);
  assert.deepEqual(b.seen.unhealthy, ['command exited with status 1: not ready yet']);
});

test('a command check quotes at most 200 characters of output', async (t) => {
  const { runCommand } = shell(t);
  const { checker: c, seen } = checker(t, { check: check({ command: { cmd: 'head -c 5000 /dev/zero | tr "\\0" x; exit 3' } }), runCommand });
  c.start();
  await until(() => seen.unhealthy.length === 1, 'the result');
  assert.equal(seen.unhealthy[0], `command exited with status 3: ${'x'.repeat(200)}`);
});

test('a command check that outlives its timeout fails, and one that cannot run fails', async (t) => {
  const { runCommand } = shell(t);
  const a = checker(t, { check: check({ command: { cmd: 'sleep 30' }, timeoutSecs: 0.2 }), runCommand });
  const b = checker(t, {
    check: check({ command: { cmd: 'true' } }),
    runCommand: () => Promise.reject(new Error('the task has no processes left')),
  });
  a.checker.start();
  b.checker.start();
  await until(() => a.seen.unhealthy.length === 1 && b.seen.unhealthy.length === 1, 'both results');
  assert.deepEqual(a.seen.unhealthy, ['command timed out after 0.2s']);
  assert.deepEqual(b.seen.unhealthy, ['command could not run: the task has no processes left']);
});

test('failures in the grace period do not count, and count once it is over', async (t) => {
  const server = await httpServer(t, status(500));
  let now = 0;
  const { checker: c, seen } = checker(t, {
    check: check({ http: { port: 'http', path: '/', statuses: [] }, gracePeriodSecs: 60, consecutiveFailures: 2 }),
    ports: { http: server.port },
    now: () => now,
  });
  c.start();
  // A request is made only once the previous check's result is recorded: 4 hits, 3 results.
  await until(() => server.hits() >= 4, 'three checks in the grace period');
  assert.equal(c.healthy, undefined);
  assert.equal(c.consecutiveFailures, 0);
  assert.equal(seen.changes.length + seen.unhealthy.length, 0, 'no callback in the grace period');
  now = 61_000;
  await until(() => seen.unhealthy.length === 1, 'the task to be unhealthy');
  assert.deepEqual(
    seen.changes.map((ch) => ch.healthy),
    [false],
  );
  assert.equal(c.consecutiveFailures, 2);
});

test('the first success ends the grace period early', async (t) => {
  const server = await httpServer(t, (hit, _req, res) => {
    res.writeHead(hit === 1 ? 200 : 500).end();
  });
  const { checker: c, seen } = checker(t, {
    check: check({ http: { port: 'http', path: '/', statuses: [] }, gracePeriodSecs: 60, consecutiveFailures: 2 }),
    ports: { http: server.port },
    now: () => 0,
  });
  c.start();
  await until(() => seen.unhealthy.length === 1, 'the task to be unhealthy');
  assert.deepEqual(
    seen.changes.map((ch) => ch.healthy),
    [true, false],
  );
  assert.equal(server.hits(), 3);
});

test('onUnhealthy fires once, after exactly consecutiveFailures failures, and the checker stops', async (t) => {
  const server = await httpServer(t, status(503));
  const { checker: c, seen } = checker(t, {
    check: check({ http: { port: 'http', path: '/', statuses: [] }, consecutiveFailures: 3 }),
    ports: { http: server.port },
  });
  c.start();
  await until(() => seen.unhealthy.length === 1, 'the task to be unhealthy');
  assert.equal(server.hits(), 3);
  assert.equal(c.consecutiveFailures, 3);
  // Several intervals later nothing more has happened: the checker stopped itself.
  await sleep(500);
  assert.equal(server.hits(), 3);
  assert.equal(seen.unhealthy.length, 1);
  assert.equal(seen.changes.length, 1);
});

test('a success resets the count of failures, so a flapping task is not killed', async (t) => {
  // fail, fail, pass, repeated: never 3 failures in a row.
  const server = await httpServer(t, (hit, _req, res) => {
    res.writeHead(hit % 3 === 0 ? 200 : 500).end();
  });
  const { checker: c, seen } = checker(t, {
    check: check({ http: { port: 'http', path: '/', statuses: [] }, consecutiveFailures: 3 }),
    ports: { http: server.port },
  });
  c.start();
  await until(() => server.hits() >= 10, 'nine results');
  c.stop();
  assert.deepEqual(seen.unhealthy, []);
  assert.deepEqual(
    seen.changes.slice(0, 6).map((ch) => ch.healthy),
    [false, true, false, true, false, true],
  );
});

test('onHealthChange fires only when health changes, not on every check', async (t) => {
  const answers = [200, 200, 200, 500, 500, 200, 200];
  const server = await httpServer(t, (hit, _req, res) => {
    res.writeHead(answers[hit - 1] ?? 200).end();
  });
  const { checker: c, seen } = checker(t, {
    check: check({ http: { port: 'http', path: '/', statuses: [] }, consecutiveFailures: 3 }),
    ports: { http: server.port },
  });
  c.start();
  await until(() => server.hits() > answers.length, 'every answer to be recorded');
  c.stop();
  const url = `GET http://127.0.0.1:${server.port}/`;
  assert.deepEqual(seen.changes, [
    { healthy: true, detail: `${url} answered 200` },
    { healthy: false, detail: `${url} answered 500` },
    { healthy: true, detail: `${url} answered 200` },
  ]);
  assert.equal(c.consecutiveFailures, 0);
});

test('stop() cancels the check in flight and silences every callback', async (t) => {
  let requestClosed = false;
  const server = await httpServer(t, (_hit, req) => {
    req.socket.once('close', () => (requestClosed = true));
  });
  const http = checker(t, { check: check({ http: { port: 'http', path: '/', statuses: [] } }), ports: { http: server.port } });
  http.checker.start();
  await until(() => server.hits() === 1, 'the first request');
  http.checker.stop();
  await until(() => requestClosed, 'the checker to close its connection');

  // A command check whose result arrives after stop(): it is dropped, and no next check runs.
  let finish: (r: CommandResult) => void = () => undefined;
  let calls = 0;
  const command = checker(t, {
    check: check({ command: { cmd: 'true' } }),
    runCommand: () => {
      calls++;
      return new Promise((resolve) => (finish = resolve));
    },
  });
  command.checker.start();
  command.checker.stop();
  finish({ exitCode: 1, output: 'too late' });
  await sleep(300);
  assert.equal(calls, 1);
  assert.equal(server.hits(), 1);
  for (const { seen, checker: c } of [http, command]) {
    assert.deepEqual(seen, { changes: [], unhealthy: [] });
    assert.equal(c.healthy, undefined);
  }
});

test('a stopped checker does not start again', async (t) => {
  const { runCommand, calls } = shell(t);
  const { checker: c } = checker(t, { check: check({ command: { cmd: 'true' } }), runCommand });
  c.stop();
  c.start();
  await sleep(200);
  assert.equal(calls(), 0);
});

test('the HealthChecker refuses a check whose port the task does not have', (t) => {
  assert.throws(
    () => checker(t, { check: check({ tcp: { port: 'admin' } }), ports: { http: 31000 } }),
    /port "admin" is not one of the task's ports/,
  );
});
