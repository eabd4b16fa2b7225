// The quota routes and the quota check of POST /api/v1/jobs, in process: a real HTTP server over a
// real event log on SQLite in a temp dir, with no agents.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { silentLogger } from '../../log/index.js';
import type { QuotaView } from '../../protocol/index.js';
import { EventLog } from '../eventlog.js';
import { SqliteStore } from '../store/index.js';
import { addJobRoutes } from './jobs.js';
import { addQuotaRoutes, MAX_QUOTA_ROLES, parseQuotaRequest, QUOTA_LIMITS } from './quotas.js';
import { Router } from './router.js';

interface Master {
  url: string;
  log: EventLog;
  dir: string;
  /** reopen closes the server and the store, and opens them again on the same file. */
  reopen(options?: { snapshotEvery?: number }): Promise<Master>;
}

/** startMaster serves the job and quota routes over a log in dir; the test's end closes it all. */
async function startMaster(t: TestContext, options: { dir?: string; snapshotEvery?: number } = {}): Promise<Master> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'muster-quota-')));
  if (options.dir === undefined) t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new SqliteStore(join(dir, 'master.db'));
  const log = await EventLog.open(store, { snapshotEvery: options.snapshotEvery ?? 1000, logger: silentLogger });
  const router = new Router(silentLogger);
  const view = () => ({
    state: log.state,
    now: log.now(),
    isConnected: () => false,
    lastSeenAt: () => undefined,
    pendingReason: () => undefined,
    usageOf: () => undefined,
  });
  addJobRoutes(router, { log, view, policy: { dockerVolumes: [] } });
  addQuotaRoutes(router, { log });
  const server: Server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await log.flushed();
    await store.close();
  };
  t.after(close);
  const master: Master = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    dir,
    reopen: async (again = {}) => {
      await close();
      return startMaster(t, { dir, ...again });
    },
  };
  return master;
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string; details?: Record<string, unknown> } };
}

async function call(master: Master, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Answer> {
  const init: RequestInit = { method, headers: { 'content-type': contentType } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(master.url + path, init);
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

function jobConfig(job: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { job, instances: 2, resources: { cpus: 1, mem: '1GiB' }, processes: [{ name: 'main', cmd: 'sleep 100' }], ...over };
}

test('PUT, GET and DELETE /api/v1/quotas/:role set, show and remove a quota, each change one event', async (t) => {
  const m = await startMaster(t);
  const put = await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 8, mem: '16GiB', disk: 102400, gpus: 2 });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual(put.body['quota'], { cpus: 8, mem: 16384, disk: 102400, gpus: 2 });
  assert.deepEqual(put.body['used'], { cpus: 0, mem: 0, disk: 0, gpus: 0 });
  assert.deepEqual(put.body['free'], { cpus: 8, mem: 16384, disk: 102400, gpus: 2 });
  assert.equal(m.log.lastIndex, 1);

  const again = await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 8, mem: 16384, disk: '100GiB', gpus: 2 });
  assert.equal(again.status, 200);
  assert.equal(m.log.lastIndex, 1, 'setting the same quota again writes nothing');

  assert.equal((await call(m, 'POST', '/api/v1/jobs', jobConfig('web/prod/a'))).status, 201);
  const got = (await call(m, 'GET', '/api/v1/quotas/web')).body as unknown as QuotaView;
  assert.deepEqual(got.used, { cpus: 2, mem: 2048, disk: 0, gpus: 0 });
  assert.deepEqual(got.free, { cpus: 6, mem: 14336, disk: 102400, gpus: 2 });
  assert.equal(typeof got.setAt, 'number');

  const other = (await call(m, 'GET', '/api/v1/quotas/db')).body as unknown as QuotaView;
  assert.deepEqual(other, { role: 'db', used: { cpus: 0, mem: 0, disk: 0, gpus: 0 } }, 'a role without a quota has none, and no free');

  await call(m, 'PUT', '/api/v1/quotas/batch', { gpus: 0 });
  const list = (await call(m, 'GET', '/api/v1/quotas')).body['quotas'] as QuotaView[];
  assert.deepEqual(
    list.map((q) => [q.role, q.quota]),
    [
      ['batch', { gpus: 0 }],
      ['web', { cpus: 8, mem: 16384, disk: 102400, gpus: 2 }],
    ],
  );

  const before = m.log.lastIndex;
  const del = await call(m, 'DELETE', '/api/v1/quotas/web');
  assert.equal(del.status, 200);
  assert.equal(del.body['quota'], undefined);
  assert.equal(m.log.lastIndex, before + 1);
  assert.equal((await call(m, 'DELETE', '/api/v1/quotas/web')).status, 200, 'removing it again is no error');
  assert.equal(m.log.lastIndex, before + 1, 'and writes nothing');
  assert.deepEqual(
    ((await call(m, 'GET', '/api/v1/quotas')).body['quotas'] as QuotaView[]).map((q) => q.role),
    ['batch'],
  );
});

test('PUT /api/v1/quotas/:role replaces the whole quota: resources left out are no longer limited', async (t) => {
  const m = await startMaster(t);
  await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 8, mem: 1024 });
  const put = await call(m, 'PUT', '/api/v1/quotas/web', { gpus: 1 });
  assert.deepEqual(put.body['quota'], { gpus: 1 });
});

test('a bad quota is refused with 400 naming the field, and changes nothing', async (t) => {
  const m = await startMaster(t);
  await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 8 });
  const index = m.log.lastIndex;
  const bad: [unknown, string][] = [
    [{ cpus: -1 }, 'cpus'],
    [{ cpus: 'eight' }, 'cpus'],
    [{ cpus: 0.0001 }, 'cpus'],
    [{ cpus: QUOTA_LIMITS.cpus + 1 }, 'cpus'],
    [{ mem: -5 }, 'mem'],
    [{ mem: 'lots' }, 'mem'],
    [{ mem: '16PiB' }, 'mem'],
    [{ mem: true }, 'mem'],
    [{ disk: '2000000TiB' }, 'disk'],
    [{ gpus: 1.0005 }, 'gpus'],
    [{ gpus: -1 }, 'gpus'],
    [{ cpu: 8 }, 'cpu'],
    [{}, '(top level)'],
  ];
  for (const [body, field] of bad) {
    const answer = await call(m, 'PUT', '/api/v1/quotas/web', body);
    assert.equal(answer.status, 400, `${JSON.stringify(body)} is refused: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error?.code, 'INVALID_ARGUMENT');
    assert.equal(answer.body.error?.details?.['field'], field, `${JSON.stringify(body)} names ${field}: ${answer.body.error?.message ?? ''}`);
  }
  for (const body of ['[1,2]', '"cpus"', 'null', '{"cpus": 8']) {
    const answer = await call(m, 'PUT', '/api/v1/quotas/web', body);
    assert.equal(answer.status, 400, `${body} is refused`);
  }
  const role = await call(m, 'PUT', '/api/v1/quotas/Web_1', { cpus: 1 });
  assert.equal(role.status, 400);
  assert.match(role.body.error?.message ?? '', /role "Web_1"/);
  assert.equal(m.log.lastIndex, index, 'no refusal wrote an event');
  assert.deepEqual((await call(m, 'GET', '/api/v1/quotas/web')).body['quota'], { cpus: 8 });
});

test('parseQuotaRequest() reads mem and disk as MiB numbers or sizes, and cpus to the milli-core', () => {
  assert.deepEqual(parseQuotaRequest({ cpus: 0.125, mem: '1.5GiB', disk: 10, gpus: 0 }), { cpusMilli: 125, memMiB: 1536, diskMiB: 10, gpus: 0 });
  assert.deepEqual(parseQuotaRequest({ gpus: 1.5 }), { gpus: 1.5 });
  assert.deepEqual(parseQuotaRequest({ mem: 0 }), { memMiB: 0 });
});

test('creating a job past its role quota is refused with 409 QUOTA_EXCEEDED and the figures, creating nothing', async (t) => {
  const m = await startMaster(t);
  await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 8 });
  assert.equal((await call(m, 'POST', '/api/v1/jobs', jobConfig('web/prod/a', { instances: 6 }))).status, 201);
  const index = m.log.lastIndex;
  const refused = await call(m, 'POST', '/api/v1/jobs', jobConfig('web/prod/hello', { instances: 3 }));
  assert.equal(refused.status, 409);
  assert.equal(refused.body.error?.code, 'QUOTA_EXCEEDED');
  assert.equal(
    refused.body.error?.message,
    'cannot create job web/prod/hello: role "web" has 2 cpus of quota left, the job needs 3 (quota 8 cpus, used 6); see muster quota get web',
  );
  assert.deepEqual(refused.body.error?.details, { role: 'web', shortfalls: [{ resource: 'cpus', quota: 8, used: 6, needs: 3 }] });
  assert.equal(m.log.lastIndex, index, 'nothing was written');
  assert.equal((await call(m, 'GET', '/api/v1/jobs/web/prod/hello')).status, 404);

  const cheap = await call(m, 'POST', '/api/v1/jobs', jobConfig('web/prod/cheap', { instances: 30, tier: 'preemptible' }));
  assert.equal(cheap.status, 201, 'a preemptible job does not count against the quota');
  assert.equal((await call(m, 'POST', '/api/v1/jobs', jobConfig('db/prod/a', { instances: 30 }))).status, 201, 'another role is unlimited');
  assert.deepEqual((await call(m, 'GET', '/api/v1/quotas/web')).body['used'], { cpus: 6, mem: 6144, disk: 0, gpus: 0 });
});

test('two jobs racing for the last of a quota cannot both be created', async (t) => {
  const m = await startMaster(t);
  await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 3 });
  const answers = await Promise.all(
    ['one', 'two', 'three'].map((name) => call(m, 'POST', '/api/v1/jobs', jobConfig(`web/prod/${name}`, { instances: 2 }))),
  );
  assert.deepEqual(
    answers.map((a) => a.status).sort(),
    [201, 409, 409],
    answers.map((a) => JSON.stringify(a.body)).join('\n'),
  );
});

test('quotas come back when the log is opened again, from the events and from a snapshot', async (t) => {
  let m = await startMaster(t);
  await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 8, mem: '16GiB' });
  await call(m, 'PUT', '/api/v1/quotas/db', { gpus: 1 });
  await call(m, 'DELETE', '/api/v1/quotas/db');
  m = await m.reopen({ snapshotEvery: 1 });
  assert.deepEqual((await call(m, 'GET', '/api/v1/quotas/web')).body['quota'], { cpus: 8, mem: 16384 });
  assert.equal((await call(m, 'GET', '/api/v1/quotas/db')).body['quota'], undefined);
  // With snapshotEvery 1, this change leaves a snapshot holding the quotas, and no event after it.
  await call(m, 'PUT', '/api/v1/quotas/batch', { disk: 1 });
  await m.log.flushed();
  m = await m.reopen();
  const list = (await call(m, 'GET', '/api/v1/quotas')).body['quotas'] as QuotaView[];
  assert.deepEqual(
    list.map((q) => [q.role, q.quota]),
    [
      ['batch', { disk: 1 }],
      ['web', { cpus: 8, mem: 16384 }],
    ],
  );
});

test('a quota for one more role than MAX_QUOTA_ROLES is refused, while the roles that have one can still change it', async (t) => {
  const m = await startMaster(t);
  // Filling the state directly stands in for MAX_QUOTA_ROLES requests.
  for (let i = 0; i < MAX_QUOTA_ROLES; i++) m.log.state.quotas.set(`r${i}`, { role: `r${i}`, quota: { cpusMilli: 1000 }, setAt: 0 });
  const refused = await call(m, 'PUT', '/api/v1/quotas/web', { cpus: 1 });
  assert.equal(refused.status, 409);
  assert.match(refused.body.error?.message ?? '', /at most/);
  assert.equal((await call(m, 'PUT', '/api/v1/quotas/r0', { cpus: 2 })).status, 200);
});
