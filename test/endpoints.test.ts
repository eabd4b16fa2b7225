// The endpoints API and its watch with real processes: a master, two agents and a 3-instance
// service of python3's http.server, each instance serving its own number, behind an http health
// check. GET lists where the ready instances are; the watch pushes an update as it rolls through
// (old tasks go not-ready and leave, new ones come in not-ready and turn ready) and a killed
// instance leaving; `muster lb haproxy` keeps a real HAProxy's backend in step with it, so that
// requests reach every instance, and after a scale-down none reaches a removed one.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { MusterClient } from '../src/client/index.js';
import type { JobSpecInput } from '../src/core/index.js';
import type { EndpointsView } from '../src/protocol/index.js';
import { cell, freePort, json, MUSTER_MAIN, ok, waitFor, type MusterProcess } from './harness.js';
import { serviceConfig, YAML, yamlOf } from './jobconfig.js';
import { hasBinary, requireOrSkip } from './require.js';

/** A service whose instances each write their number (and a version) into index.html and serve it. */
function config(key: string, version: string, instances = 3): JobSpecInput {
  return serviceConfig(key, {
    instances,
    resources: { cpus: 0.1, mem: '64MiB', disk: '16MiB', ports: ['http'] },
    processes: [{ name: 'main', cmd: `echo "$MUSTER_INSTANCE ${version}" > index.html && exec python3 -m http.server $PORT_HTTP --bind 127.0.0.1` }],
    health: { http: { port: 'http', path: '/' }, intervalSecs: 0.5, timeoutSecs: 2, gracePeriodSecs: 5 },
    update: { batchSize: 1, watchSecs: 1, progressDeadlineSecs: 60 },
  });
}

function readyCount(view: EndpointsView): number {
  return view.instances.filter((e) => e.ready).length;
}

async function waitAllReady(client: MusterClient, key: string, n: number): Promise<EndpointsView> {
  return waitFor(() => client.endpoints(key), {
    what: `${n} ready endpoints of ${key}`,
    until: (v) => v.instances.length === n && readyCount(v) === n,
    timeoutMs: 60_000,
  });
}

/** get sends one request on a connection of its own (no keep-alive: each is balanced anew) and returns the body. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = request(url, { agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** spawnCli starts a long-running `muster ARGS` against the master, collecting its output. */
function spawnCli(t: TestContext, master: MusterProcess, args: string[]): { child: ChildProcess; out: { stdout: string; stderr: string }; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [MUSTER_MAIN, ...args], { env: { ...process.env, NO_COLOR: '1', MUSTER_MASTER: master.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out.stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (out.stderr += s));
  const exit = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exit, new Promise((r) => setTimeout(r, 8000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
  return { child, out, exit };
}

test('GET endpoints lists the ready instances with host, address and ports; the watch sees an update roll through and a killed instance leave', async (t) => {
  if (!requireOrSkip(t, hasBinary('python3'), 'needs python3 on PATH (the tasks serve HTTP with python3 -m http.server)')) return;
  const c = cell(t);
  const { client, master } = await c.startCell(2);
  const key = 'web/prod/ep';
  await client.createJob(yamlOf(config(key, 'v1')), YAML);
  const view = await waitAllReady(client, key, 3);

  // (a) Where each instance is, and that it is there: each answers with its own number.
  assert.equal(view.job, key);
  assert.equal(view.version, 1);
  assert.deepEqual(view.instances.map((e) => e.instance), [0, 1, 2]);
  for (const e of view.instances) {
    assert.match(e.host, /^agent-\d$/);
    assert.equal(e.address, '127.0.0.1');
    assert.equal(e.state, 'TASK_RUNNING');
    assert.equal(e.healthy, true);
    assert.equal(e.why, undefined);
    assert.deepEqual(Object.keys(e.ports), ['http']);
    assert.equal((await get(`http://${e.address}:${e.ports['http']}/`)).body, `${e.instance} v1`);
  }
  await assert.rejects(() => client.endpoints('web/prod/none'), /no job web\/prod\/none/);

  // The CLI: a table, the API's JSON, one line and exit 4 for a job that does not exist.
  const table = ok(await c.cli(['job', 'endpoints', key]), 'job endpoints').split('\n');
  assert.equal(table[0], `${key} v1: 3 of 3 ready`);
  assert.match(table[1] ?? '', /^INSTANCE\s+HOST\s+ADDRESS\s+PORTS\s+HEALTH\s+READY$/);
  assert.match(table[2] ?? '', /^0\s+agent-\d\s+127\.0\.0\.1\s+http=\d+\s+healthy\s+yes$/);
  assert.deepEqual(json<EndpointsView>(await c.cli(['--json', 'job', 'endpoints', key]), 'job endpoints --json'), view);
  const missing = await c.cli(['job', 'endpoints', 'web/prod/none']);
  assert.equal(missing.code, 4);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);

  // `job endpoints --watch --json` prints the view at once, and stops on SIGINT with 0.
  const watcher = spawnCli(t, master, ['--json', 'job', 'endpoints', key, '--watch']);
  const line = await waitFor(() => watcher.out.stdout.split('\n')[0] ?? '', { what: 'the first view from job endpoints --watch', until: (l) => l.endsWith('}') });
  assert.deepEqual(JSON.parse(line) as EndpointsView, view);
  watcher.child.kill('SIGINT');
  assert.equal(await watcher.exit, 0, watcher.out.stderr);

  // (b) The watch, through an update.
  const views: EndpointsView[] = [];
  const stop = new AbortController();
  t.after(() => stop.abort());
  const watching = client.watchEndpoints(key, (v) => views.push(v), stop.signal);
  const last = (): EndpointsView => {
    const v = views.at(-1);
    if (v === undefined) throw new Error('no view yet');
    return v;
  };
  await waitFor(() => views.length, { what: 'the first view of the watch', until: (n) => n >= 1 });
  assert.deepEqual(views[0], view, 'the first message is the whole view');
  const oldIds = new Set(view.instances.map((e) => e.taskId));

  await client.request('POST', `/api/v1/jobs/${key}/update`, config(key, 'v2'));
  const rolled = await waitFor(last, {
    what: 'the watch to show 3 ready instances on new tasks',
    until: (v) => v.version === 2 && readyCount(v) === 3 && v.instances.length === 3 && v.instances.every((e) => !oldIds.has(e.taskId)),
    timeoutMs: 90_000,
  });
  for (const e of rolled.instances) assert.equal((await get(`http://${e.address}:${e.ports['http']}/`)).body, `${e.instance} v2`);
  const seen = views.slice();
  for (let i = 1; i < seen.length; i++) assert.notDeepEqual(seen[i], seen[i - 1], 'each message is a change');
  assert.ok(seen.some((v) => readyCount(v) < 3), 'instances went not-ready while the update rolled through');
  for (const id of oldIds) {
    const leaving = seen.find((v) => v.instances.some((e) => e.taskId === id && !e.ready));
    assert.ok(leaving !== undefined, `old task ${id} was shown not ready before it left`);
    assert.ok(seen.at(-1)?.instances.every((e) => e.taskId !== id), `old task ${id} left`);
  }
  for (const e of rolled.instances) {
    const first = seen.find((v) => v.instances.some((x) => x.taskId === e.taskId));
    assert.equal(first?.instances.find((x) => x.taskId === e.taskId)?.ready, false, `new task ${e.taskId} came in not ready (its health check had not passed)`);
  }
  // batchSize 1: never more than one instance down at a time, as the watch saw it.
  assert.ok(seen.every((v) => readyCount(v) >= 2), `at most one instance down at once: ${seen.map(readyCount).join(',')}`);

  // A killed instance leaves.
  const before = views.length;
  await client.killJob(key, [2]);
  const after = await waitFor(last, {
    what: 'instance 2 to leave the watch',
    until: (v) => v.instances.every((e) => e.instance !== 2),
  });
  assert.deepEqual(after.instances.map((e) => e.instance), [0, 1]);
  assert.equal(readyCount(after), 2);
  assert.ok(views.slice(before).some((v) => v.instances.find((e) => e.instance === 2)?.why === 'it is being killed'), 'it was shown as being killed first');
  stop.abort();
  await watching;
});

const HAPROXY = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';

test('muster lb haproxy sends requests to every ready instance, and after a scale-down to none that was removed', async (t) => {
  if (!requireOrSkip(t, hasBinary('python3'), 'needs python3 on PATH (the tasks serve HTTP with python3 -m http.server)')) return;
  if (!requireOrSkip(t, existsSync(HAPROXY) || hasBinary('haproxy'), "needs HAProxy (Debian's haproxy package)")) return;
  const c = cell(t);
  const { client, master } = await c.startCell(2);
  const key = 'web/prod/lb';
  await client.createJob(yamlOf(config(key, 'v1')), YAML);
  await waitAllReady(client, key, 3);

  const port = await freePort();
  const lb = spawnCli(t, master, ['lb', 'haproxy', key, '--port-name', 'http', '--listen', `127.0.0.1:${port}`, '--haproxy', HAPROXY, '--dir', join(c.dir, 'lb')]);
  await waitFor(() => lb.out.stderr, { what: 'muster lb to start HAProxy with 3 servers', until: (s) => /3 ready servers \(instances 0-2\); haproxy started/.test(s) });
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(() => get(url), { what: 'HAProxy to answer', until: (r) => r.status === 200 });

  const answered = new Map<string, number>();
  for (let i = 0; i < 30; i++) {
    const r = await get(url);
    assert.equal(r.status, 200, r.body);
    answered.set(r.body, (answered.get(r.body) ?? 0) + 1);
  }
  assert.deepEqual([...answered.keys()].sort(), ['0 v1', '1 v1', '2 v1'], `every instance answered: ${JSON.stringify([...answered])}`);

  await client.scaleJob(key, 1);
  await waitFor(() => lb.out.stderr, { what: 'muster lb to reload HAProxy with 1 server', until: (s) => /1 ready server \(instance 0\); haproxy reloaded/.test(s), timeoutMs: 60_000 });
  // A reload is done once HAProxy's new worker takes the listener; from then on only instance 0 answers.
  await waitFor(() => Promise.all([get(url), get(url), get(url)]), {
    what: 'the reloaded HAProxy to send every request to instance 0',
    until: (rs) => rs.every((r) => r.body === '0 v1'),
  });
  for (let i = 0; i < 30; i++) {
    const r = await get(url);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, '0 v1', `request ${i} after the scale-down went to instance 0 only`);
  }
  const view = await client.endpoints(key);
  assert.ok(view.instances.every((e) => e.instance === 0 || !e.ready), JSON.stringify(view));

  // SIGTERM stops HAProxy and exits 0.
  lb.child.kill('SIGTERM');
  assert.equal(await lb.exit, 0, lb.out.stderr);
  await assert.rejects(() => get(url), /ECONNREFUSED/, 'HAProxy stopped with it');
  assert.doesNotMatch(lb.out.stderr, /internal error/);
});
