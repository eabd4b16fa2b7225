// The Mesos views of the cell, over a real HTTP server: a cell state built with apply() (agents, a
// job of the built-in framework, an external framework's task) served by a Router, read with fetch
// as mesos-dns and operator tools would. The SUBSCRIBE tests serve the same cell from a real event
// log (SQLite in a temp dir), append to it, and read the RecordIO stream as a Mesos client would.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type ClientRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parseResourceFlag, validateJobSpec, type Resources, type TaskState } from '../../core/index.js';
import { silentLogger } from '../../log/index.js';
import { EventLog } from '../eventlog.js';
import { apply, emptyState, type CellState, type Event } from '../state/index.js';
import { SqliteStore } from '../store/index.js';
import { addMesosStateRoutes, MAX_OPERATOR_CALL_BYTES, MAX_OPERATOR_SUBSCRIBERS, type MesosStateDeps } from './mesosstate.js';
import { Router } from './router.js';

const T0 = 1_700_000_000_000;

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

function agent(agentId: string, hostname: string, address: string): Event {
  return {
    type: 'AgentRegistered',
    at: T0,
    agent: { agentId, hostname, address, port: 5051, resources: res('cpus:4;mem:4096;disk:10000;ports:[31000-31010]'), attributes: { rack: 'r1' }, version: '0.1.0' },
  };
}

function job(key: string, instances: number): Event {
  return {
    type: 'JobCreated',
    at: T0 + 1000,
    spec: validateJobSpec({ job: key, kind: 'service', instances, resources: { cpus: 0.5, mem: '64MiB' }, processes: [{ name: 'main', cmd: 'sleep 100' }] }),
  };
}

function status(taskId: string, state: TaskState, at: number): Event {
  return { type: 'TaskStatusUpdated', at, status: { taskId, state, uuid: `${taskId}-${state}`, timestamp: at } };
}

/**
 * cellEvents make the cell: agent a1 (connected) runs web/prod/hello/0 (named ports), a revocable
 * batch/dev/crunch/0 and the external framework fw-1's task "nginx.42"; web/prod/hello/1 failed; a2
 * is unreachable; a3's host is draining.
 */
function cellEvents(): Event[] {
  return [
    agent('a1', 'h1', '10.0.0.1'),
    agent('a2', 'h2', '10.0.0.2'),
    agent('a3', 'h3', '10.0.0.3'),
    { type: 'AgentUnreachable', at: T0 + 500, agentId: 'a2', message: 'silent' },
    { type: 'HostMaintenance', at: T0 + 500, hostnames: ['h3'], mode: 'DRAINING' },
    job('web/prod/hello', 2),
    job('batch/dev/crunch', 1),
    {
      type: 'TasksLaunched',
      at: T0 + 2000,
      tasks: [
        { taskId: 'hello-0', job: 'web/prod/hello', instance: 0, agentId: 'a1', resources: res('cpus:0.5;mem:64;ports:[31000-31001]'), ports: { http: 31000, admin: 31001 } },
        { taskId: 'hello-1', job: 'web/prod/hello', instance: 1, agentId: 'a1', resources: res('cpus:0.5;mem:64'), ports: {} },
        { taskId: 'crunch-0', job: 'batch/dev/crunch', instance: 0, agentId: 'a1', resources: res('cpus:1;mem:256'), ports: {}, revocable: true },
      ],
    },
    {
      type: 'FrameworkRegistered',
      at: T0 + 3000,
      framework: { frameworkId: 'fw-1', name: 'marathon', user: 'root', roles: ['web'], hostname: 'sched.example', failoverTimeoutSecs: 3600, checkpoint: true, capabilities: [] },
    },
    {
      type: 'TasksLaunched',
      at: T0 + 4000,
      tasks: [
        {
          taskId: 'master-task-7',
          job: 'web/framework/fw-1',
          instance: 0,
          frameworkId: 'fw-1',
          launch: { name: 'nginx', externalId: 'nginx.42', cmd: 'nginx', env: {}, killGraceSecs: 5 },
          agentId: 'a1',
          resources: res('cpus:1;mem:128;ports:[31005-31005]'),
          ports: {},
        },
      ],
    },
    status('hello-0', 'TASK_RUNNING', T0 + 10_000),
    status('hello-1', 'TASK_FAILED', T0 + 10_500),
    status('crunch-0', 'TASK_RUNNING', T0 + 11_000),
    status('master-task-7', 'TASK_RUNNING', T0 + 12_000),
  ];
}

function cell(): CellState {
  const s = emptyState();
  for (const e of cellEvents()) apply(s, e);
  return s;
}

interface Served {
  url: string;
}

async function serve(t: TestContext, over: Partial<MesosStateDeps> = {}): Promise<Served> {
  const state = cell();
  const served = { url: '' };
  const deps: MesosStateDeps = {
    state: () => state,
    masterId: 'master-1',
    selfUrl: () => served.url,
    leader: () => ({ masterId: 'master-1', url: served.url }),
    startedAt: T0,
    electedAt: () => T0 + 250,
    isConnected: (id) => id !== 'a2',
    frameworkConnected: (id) => id === 'fw-1',
    version: '0.1.0',
    roleWeights: { web: 2 },
    now: () => T0 + 60_000,
    ...over,
  };
  const router = new Router(silentLogger);
  addMesosStateRoutes(router, deps);
  const server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  served.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return served;
}

interface LogServed extends Served {
  log: EventLog;
  /** How many listeners the routes hold on the log now. */
  listening(): number;
  /** append writes events to the log as one batch, and resolves once they are durable (and streamed). */
  append(...events: Event[]): Promise<void>;
}

/** serveLog serves the cell of cellEvents() from a real event log, which the test appends to. */
async function serveLog(t: TestContext, over: Partial<MesosStateDeps> = {}): Promise<LogServed> {
  const dir = await mkdtemp(join(tmpdir(), 'muster-mesosstate-'));
  const store = new SqliteStore(join(dir, 'master.db'));
  const log = await EventLog.open(store, { snapshotEvery: 100_000, logger: silentLogger });
  t.after(async () => {
    await log.flushed();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const append = (...events: Event[]): Promise<void> => log.submit(() => ({ events, result: undefined }));
  await append(...cellEvents());
  let listening = 0;
  const served = await serve(t, {
    state: () => log.state,
    onAppended: (listener) => {
      listening++;
      const off = log.onAppended(listener);
      return () => {
        listening--;
        off();
      };
    },
    ...over,
  });
  return { ...served, log, listening: () => listening, append };
}

type Json = Record<string, unknown>;

async function get(m: Served, path: string): Promise<Json> {
  const r = await fetch(m.url + path);
  assert.equal(r.status, 200, `GET ${path}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return (await r.json()) as Json;
}

async function call(m: Served, type: string): Promise<Json> {
  const r = await fetch(`${m.url}/api/v1`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ type }) });
  assert.equal(r.status, 200, `${type}: ${r.status}`);
  const body = (await r.json()) as Json;
  assert.equal(body['type'], type);
  const inner = body[type.toLowerCase()];
  assert.equal(typeof inner, 'object', `${type} answers ${type.toLowerCase()}`);
  return inner as Json;
}

const arr = (v: unknown): Json[] => {
  assert.ok(Array.isArray(v), `expected an array, got ${JSON.stringify(v)}`);
  return v as Json[];
};
const obj = (v: unknown): Json => {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), `expected an object, got ${JSON.stringify(v)}`);
  return v as Json;
};
const byKey = (list: Json[], key: string, value: unknown): Json => {
  const found = list.find((x) => x[key] === value);
  assert.ok(found !== undefined, `no element with ${key} ${JSON.stringify(value)} in ${JSON.stringify(list.map((x) => x[key]))}`);
  return found;
};

test('GET /master/state has every field mesos-dns reads, in the shapes Mesos gives them', async (t) => {
  const m = await serve(t);
  const port = new URL(m.url).port;
  const state = await get(m, '/master/state');
  assert.equal(state['leader'], `master@127.0.0.1:${port}`);
  assert.deepEqual(state['leader_info'], { id: 'master-1', pid: `master@127.0.0.1:${port}`, port: Number(port), hostname: '127.0.0.1' });
  assert.equal(state['pid'], `master@127.0.0.1:${port}`);
  assert.equal(state['id'], 'master-1');
  assert.equal(state['version'], '0.1.0');
  assert.equal(state['start_time'], T0 / 1000);
  assert.equal(state['elected_time'], (T0 + 250) / 1000);
  assert.equal(state['activated_slaves'], 1);
  assert.equal(state['deactivated_slaves'], 1, 'a3 is draining');
  assert.equal(state['unreachable_slaves'], 1);
  assert.deepEqual(state['flags'], {});
  for (const key of ['completed_frameworks', 'orphan_tasks', 'unregistered_frameworks', 'recovered_slaves']) assert.deepEqual(state[key], [], key);

  const slaves = arr(state['slaves']);
  assert.deepEqual(
    slaves.map((s) => s['id']),
    ['a1', 'a3'],
    'an unreachable agent is not listed',
  );
  const a1 = byKey(slaves, 'id', 'a1');
  assert.equal(a1['hostname'], 'h1');
  assert.equal(a1['pid'], 'slave(1)@10.0.0.1:5051');
  assert.equal(a1['port'], 5051);
  assert.equal(a1['active'], true);
  assert.equal(a1['registered_time'], T0 / 1000);
  assert.deepEqual(a1['attributes'], { rack: 'r1' });
  assert.deepEqual(a1['resources'], { cpus: 4, mem: 4096, disk: 10000, gpus: 0, ports: '[31000-31010]' });
  assert.deepEqual(a1['used_resources'], { cpus: 1.5, mem: 192, disk: 0, gpus: 0, ports: '[31000-31001, 31005-31005]', cpus_revocable: 1, mem_revocable: 256 });
  assert.deepEqual(a1['offered_resources'], { cpus: 0, mem: 0, disk: 0, gpus: 0 });
  const a3 = byKey(slaves, 'id', 'a3');
  assert.equal(a3['active'], false);
  assert.deepEqual(a3['drain_info'], { state: 'DRAINING', config: { mark_gone: false } });

  const frameworks = arr(state['frameworks']);
  assert.deepEqual(
    frameworks.map((f) => f['name']),
    ['muster', 'marathon'],
  );
  for (const f of frameworks) assert.equal('pid' in f, false, 'no framework is driver-based, so none has a pid');
  const muster = byKey(frameworks, 'id', 'muster');
  assert.equal(muster['hostname'], '127.0.0.1');
  assert.equal(muster['role'], '*');
  assert.equal(muster['active'], true);
  const tasks = arr(muster['tasks']);
  assert.deepEqual(tasks.map((x) => x['id']).sort(), ['crunch-0', 'hello-0']);
  const hello = byKey(tasks, 'id', 'hello-0');
  assert.equal(hello['name'], 'web/prod/hello/0');
  assert.equal(hello['framework_id'], 'muster');
  assert.equal(hello['slave_id'], 'a1');
  assert.equal(hello['state'], 'TASK_RUNNING');
  assert.equal(hello['role'], 'web');
  assert.equal(hello['executor_id'], '');
  assert.deepEqual(hello['resources'], { cpus: 0.5, mem: 64, disk: 0, gpus: 0, ports: '[31000-31001]' });
  assert.deepEqual(hello['statuses'], [
    { state: 'TASK_STAGING', timestamp: (T0 + 2000) / 1000, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.1' }] }] } },
    { state: 'TASK_RUNNING', timestamp: (T0 + 10_000) / 1000, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.1' }] }] } },
  ]);
  assert.deepEqual(hello['discovery'], {
    visibility: 'FRAMEWORK',
    name: 'web/prod/hello/0',
    ports: {
      ports: [
        { number: 31000, name: 'http', protocol: 'tcp' },
        { number: 31001, name: 'admin', protocol: 'tcp' },
      ],
    },
  });
  const crunch = byKey(tasks, 'id', 'crunch-0');
  assert.deepEqual(crunch['resources'], { cpus: 0, mem: 0, disk: 0, gpus: 0, cpus_revocable: 1, mem_revocable: 256 });
  const completed = arr(muster['completed_tasks']);
  assert.deepEqual(
    completed.map((x) => [x['id'], x['state']]),
    [['hello-1', 'TASK_FAILED']],
  );
  assert.deepEqual(
    arr(byKey(completed, 'id', 'hello-1')['statuses']).map((x) => [x['state'], x['timestamp']]),
    [
      ['TASK_STAGING', (T0 + 2000) / 1000],
      ['TASK_FAILED', (T0 + 10_500) / 1000],
    ],
  );
  assert.deepEqual(muster['used_resources'], { cpus: 0.5, mem: 64, disk: 0, gpus: 0, ports: '[31000-31001]', cpus_revocable: 1, mem_revocable: 256 });

  const marathon = byKey(frameworks, 'id', 'fw-1');
  assert.equal(marathon['hostname'], 'sched.example');
  assert.equal(marathon['user'], 'root');
  assert.equal(marathon['role'], 'web');
  assert.equal(marathon['failover_timeout'], 3600);
  assert.equal(marathon['connected'], true);
  const [nginx] = arr(marathon['tasks']);
  assert.ok(nginx !== undefined);
  assert.equal(nginx['id'], 'nginx.42', "an external task shows its framework's own id");
  assert.equal(nginx['name'], 'nginx');
  assert.equal(nginx['framework_id'], 'fw-1');
  assert.equal(nginx['slave_id'], 'a1');
  assert.equal(nginx['state'], 'TASK_RUNNING');
  assert.equal(nginx['role'], 'web');
  assert.equal(obj(nginx['resources'])['ports'], '[31005-31005]');
  assert.equal('discovery' in nginx, false);
  const running = arr(nginx['statuses']).find((x) => x['state'] === 'TASK_RUNNING');
  assert.equal(running?.['timestamp'], (T0 + 12_000) / 1000);
});

test('GET /state, /state.json and /master/state.json answer as /master/state does', async (t) => {
  const m = await serve(t);
  const want = await get(m, '/master/state');
  for (const path of ['/state', '/state.json', '/master/state.json']) assert.deepEqual(await get(m, path), want, path);
});

test('GET /master/state without a known leader leaves leader and leader_info out, as Mesos does', async (t) => {
  const m = await serve(t, { leader: () => undefined, electedAt: () => undefined });
  const state = await get(m, '/master/state');
  assert.equal('leader' in state, false);
  assert.equal('leader_info' in state, false);
  assert.equal('elected_time' in state, false);
});

test('GET /master/state-summary counts the tasks of each agent and framework by state', async (t) => {
  const m = await serve(t);
  const summary = await get(m, '/master/state-summary');
  assert.equal(summary['hostname'], '127.0.0.1');
  const a1 = byKey(arr(summary['slaves']), 'id', 'a1');
  assert.equal(a1['TASK_RUNNING'], 3);
  assert.equal(a1['TASK_FAILED'], 1);
  assert.equal(a1['TASK_STAGING'], 0);
  assert.equal(a1['TASK_UNREACHABLE'], 0);
  assert.deepEqual(arr(a1['framework_ids']).sort(), ['fw-1', 'muster']);
  assert.equal(a1['pid'], 'slave(1)@10.0.0.1:5051');
  const muster = byKey(arr(summary['frameworks']), 'id', 'muster');
  assert.equal(muster['TASK_RUNNING'], 2);
  assert.equal(muster['TASK_FAILED'], 1);
  assert.deepEqual(muster['slave_ids'], ['a1']);
  assert.equal('tasks' in muster, false, 'a summary lists no tasks');
  const fw = byKey(arr(summary['frameworks']), 'id', 'fw-1');
  assert.equal(fw['TASK_RUNNING'], 1);
});

test('GET /master/frameworks and /master/slaves list them all, or the one a query names', async (t) => {
  const m = await serve(t);
  const all = await get(m, '/master/frameworks');
  assert.deepEqual(
    arr(all['frameworks']).map((f) => f['id']),
    ['muster', 'fw-1'],
  );
  assert.deepEqual(all['completed_frameworks'], []);
  assert.deepEqual(all['unregistered_frameworks'], []);
  const one = await get(m, '/master/frameworks?framework_id=fw-1');
  assert.deepEqual(
    arr(one['frameworks']).map((f) => f['id']),
    ['fw-1'],
  );
  const slaves = await get(m, '/master/slaves');
  assert.deepEqual(
    arr(slaves['slaves']).map((s) => s['id']),
    ['a1', 'a3'],
  );
  assert.deepEqual(slaves['recovered_slaves'], []);
  const a3 = await get(m, '/master/slaves?slave_id=a3');
  assert.deepEqual(
    arr(a3['slaves']).map((s) => s['id']),
    ['a3'],
  );
});

test('GET /version and /metrics/snapshot answer from the state', async (t) => {
  const m = await serve(t);
  assert.deepEqual(await get(m, '/version'), { version: '0.1.0' });
  const metrics = await get(m, '/metrics/snapshot');
  for (const v of Object.values(metrics)) assert.equal(typeof v, 'number');
  assert.equal(metrics['master/elected'], 1);
  assert.equal(metrics['master/uptime_secs'], 60);
  assert.equal(metrics['master/slaves_active'], 1);
  assert.equal(metrics['master/slaves_inactive'], 1);
  assert.equal(metrics['master/slaves_connected'], 2);
  assert.equal(metrics['master/slaves_disconnected'], 0);
  assert.equal(metrics['master/slaves_unreachable'], 1);
  assert.equal(metrics['master/frameworks_active'], 2);
  assert.equal(metrics['master/frameworks_connected'], 2);
  assert.equal(metrics['master/frameworks_disconnected'], 0);
  assert.equal(metrics['master/tasks_running'], 3);
  assert.equal(metrics['master/tasks_failed'], 1);
  assert.equal(metrics['master/tasks_finished'], 0);
  assert.equal(metrics['master/tasks_staging'], 0);
  assert.equal(metrics['master/cpus_total'], 8, 'the two reachable agents');
  assert.equal(metrics['master/cpus_used'], 1.5);
  assert.equal(metrics['master/cpus_percent'], 1.5 / 8);
  assert.equal(metrics['master/mem_total'], 8192);
  assert.equal(metrics['master/mem_used'], 192);
  assert.equal(metrics['master/disk_total'], 20000);
  assert.equal(metrics['master/disk_used'], 0);
  assert.equal(metrics['master/gpus_total'], 0);
  assert.equal(metrics['master/gpus_used'], 0);
  assert.equal(metrics['master/gpus_percent'], 0);
  assert.equal(metrics['master/cpus_revocable_used'], 1);
  assert.equal(metrics['master/mem_revocable_used'], 256);
});

test('POST /api/v1 GET_HEALTH, GET_VERSION and GET_MASTER answer as Mesos does', async (t) => {
  const m = await serve(t);
  assert.deepEqual(await call(m, 'GET_HEALTH'), { healthy: true });
  assert.deepEqual(await call(m, 'GET_VERSION'), { version_info: { version: '0.1.0' } });
  const master = await call(m, 'GET_MASTER');
  const info = obj(master['master_info']);
  assert.equal(info['id'], 'master-1');
  assert.equal(info['ip'], 16777343, '127.0.0.1 packed as Mesos packs it');
  assert.equal(info['port'], Number(new URL(m.url).port));
  assert.equal(info['hostname'], '127.0.0.1');
  assert.equal(master['start_time'], T0 / 1000);
  assert.equal(master['elected_time'], (T0 + 250) / 1000);
});

test('POST /api/v1 GET_AGENTS lists the reachable agents with their resources as Resource lists', async (t) => {
  const m = await serve(t);
  const agents = await call(m, 'GET_AGENTS');
  assert.deepEqual(agents['recovered_agents'], []);
  const list = arr(agents['agents']);
  assert.equal(list.length, 2);
  const a1 = list.find((a) => obj(obj(a['agent_info'])['id'])['value'] === 'a1');
  assert.ok(a1 !== undefined);
  const agentInfo = obj(a1['agent_info']);
  assert.equal(agentInfo['hostname'], 'h1');
  assert.equal(agentInfo['port'], 5051);
  assert.deepEqual(agentInfo['attributes'], [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }]);
  assert.equal(a1['active'], true);
  assert.equal(a1['pid'], 'slave(1)@10.0.0.1:5051');
  assert.equal(a1['version'], '0.1.0');
  assert.deepEqual(a1['registered_time'], { nanoseconds: T0 * 1_000_000 });
  const total = arr(a1['total_resources']);
  assert.deepEqual(byKey(total, 'name', 'cpus'), { name: 'cpus', type: 'SCALAR', scalar: { value: 4 }, role: '*' });
  assert.deepEqual(byKey(total, 'name', 'ports')['ranges'], { range: [{ begin: 31000, end: 31010 }] });
  const allocated = arr(a1['allocated_resources']);
  const revocableCpus = allocated.find((r) => r['name'] === 'cpus' && 'revocable' in r);
  assert.deepEqual(revocableCpus?.['scalar'], { value: 1 });
  assert.deepEqual(a1['offered_resources'], []);
});

test('POST /api/v1 GET_FRAMEWORKS lists the built-in framework and the external ones', async (t) => {
  const m = await serve(t);
  const answer = await call(m, 'GET_FRAMEWORKS');
  assert.deepEqual(answer['completed_frameworks'], []);
  const frameworks = arr(answer['frameworks']);
  const infos = frameworks.map((f) => obj(f['framework_info']));
  assert.deepEqual(
    infos.map((i) => [obj(i['id'])['value'], i['name']]),
    [
      ['muster', 'muster'],
      ['fw-1', 'marathon'],
    ],
  );
  const fw = frameworks[1];
  assert.ok(fw !== undefined);
  assert.equal(fw['active'], true);
  assert.equal(fw['connected'], true);
  assert.equal(fw['recovered'], false);
  assert.deepEqual(fw['registered_time'], { nanoseconds: (T0 + 3000) * 1_000_000 });
  assert.equal(infos[1]?.['user'], 'root');
  assert.equal(infos[1]?.['role'], 'web');
  assert.equal(infos[1]?.['failover_timeout'], 3600);
  const allocated = arr(fw['allocated_resources']);
  assert.deepEqual(byKey(allocated, 'name', 'cpus'), { name: 'cpus', type: 'SCALAR', scalar: { value: 1 }, role: '*', allocation_info: { role: 'web' } });
});

test('POST /api/v1 GET_TASKS sorts tasks into tasks and completed_tasks, in the v1 Task shape', async (t) => {
  const m = await serve(t);
  const answer = await call(m, 'GET_TASKS');
  for (const key of ['pending_tasks', 'unreachable_tasks', 'orphan_tasks']) assert.deepEqual(answer[key], [], key);
  const tasks = arr(answer['tasks']);
  assert.deepEqual(tasks.map((x) => obj(x['task_id'])['value']).sort(), ['crunch-0', 'hello-0', 'nginx.42']);
  assert.deepEqual(
    arr(answer['completed_tasks']).map((x) => obj(x['task_id'])['value']),
    ['hello-1'],
  );
  const nginx = tasks.find((x) => obj(x['task_id'])['value'] === 'nginx.42');
  assert.ok(nginx !== undefined);
  assert.equal(nginx['name'], 'nginx');
  assert.deepEqual(nginx['framework_id'], { value: 'fw-1' });
  assert.deepEqual(nginx['agent_id'], { value: 'a1' });
  assert.equal(nginx['state'], 'TASK_RUNNING');
  const statuses = arr(nginx['statuses']);
  const last = statuses[statuses.length - 1];
  assert.deepEqual(last, {
    task_id: { value: 'nginx.42' },
    state: 'TASK_RUNNING',
    agent_id: { value: 'a1' },
    timestamp: (T0 + 12_000) / 1000,
    container_status: { network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.1' }], groups: [], port_mappings: [] }] },
  });
  const ports = byKey(arr(nginx['resources']), 'name', 'ports');
  assert.deepEqual(ports, { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31005, end: 31005 }] }, role: '*', allocation_info: { role: 'web' } });
});

test('POST /api/v1 GET_STATE holds get_tasks, get_executors, get_frameworks and get_agents', async (t) => {
  const m = await serve(t);
  const state = await call(m, 'GET_STATE');
  assert.deepEqual(Object.keys(state).sort(), ['get_agents', 'get_executors', 'get_frameworks', 'get_tasks']);
  assert.deepEqual(obj(state['get_tasks']), await call(m, 'GET_TASKS'));
  assert.deepEqual(obj(state['get_frameworks']), await call(m, 'GET_FRAMEWORKS'));
  assert.deepEqual(obj(state['get_agents']), await call(m, 'GET_AGENTS'));
  assert.deepEqual(state['get_executors'], { executors: [], orphan_executors: [] });
});

test('POST /api/v1 GET_ROLES lists the roles with their weights, frameworks and allocations', async (t) => {
  const m = await serve(t);
  const roles = arr((await call(m, 'GET_ROLES'))['roles']);
  assert.deepEqual(
    roles.map((r) => r['name']),
    ['*', 'batch', 'web'],
  );
  const web = byKey(roles, 'name', 'web');
  assert.equal(web['weight'], 2);
  assert.deepEqual(arr(web['frameworks']).map((f) => f['value']).sort(), ['fw-1', 'muster']);
  const cpus = arr(web['resources']).filter((r) => r['name'] === 'cpus');
  assert.deepEqual(cpus, [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1.5 }, role: '*', allocation_info: { role: 'web' } }]);
  assert.equal(byKey(roles, 'name', '*')['weight'], 1);
});

test('POST /api/v1 refuses what it cannot answer with the status Mesos gives', async (t) => {
  const m = await serve(t);
  const post = async (body: string | Uint8Array, headers: Record<string, string>): Promise<{ status: number; text: string }> => {
    const r = await fetch(`${m.url}/api/v1`, { method: 'POST', headers, body });
    return { status: r.status, text: await r.text() };
  };
  const json = { 'Content-Type': 'application/json' };
  const noType = await post(new TextEncoder().encode('{"type":"GET_HEALTH"}'), {});
  assert.equal(noType.status, 400);
  assert.match(noType.text, /Content-Type/);
  assert.equal((await post('{"type":"GET_HEALTH"}', { 'Content-Type': 'text/plain' })).status, 415);
  const protobuf = await post('x', { 'Content-Type': 'application/x-protobuf' });
  assert.equal(protobuf.status, 415);
  assert.match(protobuf.text, /protobuf is not supported/);
  const accept = await post('{"type":"GET_HEALTH"}', { ...json, Accept: 'text/html' });
  assert.equal(accept.status, 406);
  assert.equal((await post('{"type":"GET_HEALTH"}', { ...json, Accept: 'text/html, */*;q=0.1' })).status, 200);
  assert.equal((await post('{"type":"GET_HEALTH"}', { 'Content-Type': 'application/json; charset=utf-8' })).status, 200);
  const unknown = await post('{"type":"GET_EVERYTHING"}', json);
  assert.equal(unknown.status, 400);
  assert.match(unknown.text, /GET_EVERYTHING/);
  const unsupported = await post('{"type":"TEARDOWN"}', json);
  assert.equal(unsupported.status, 400);
  assert.match(unsupported.text, /TEARDOWN/);
  assert.match(unsupported.text, /SUBSCRIBE/, 'the refusal lists SUBSCRIBE among the calls answered');
  const noStream = await post('{"type":"SUBSCRIBE"}', json);
  assert.equal(noStream.status, 503, 'a master without an event log to follow cannot stream');
  assert.match(noStream.text, /not available on this master/);
  const missing = await post('{}', json);
  assert.equal(missing.status, 400);
  assert.match(missing.text, /'type'/);
  assert.equal((await post('{"type": 1}', json)).status, 400);
  assert.equal((await post('[]', json)).status, 400);
  const broken = await post('{"type":', json);
  assert.equal(broken.status, 400);
  assert.match(broken.text, /JSON/);
  const big = await post(JSON.stringify({ type: 'GET_HEALTH', pad: 'x'.repeat(MAX_OPERATOR_CALL_BYTES) }), json);
  assert.equal(big.status, 413);
  const get = await fetch(`${m.url}/api/v1`);
  assert.equal(get.status, 405);
  assert.equal((await post('{"type":"GET_HEALTH"}', json)).status, 200, 'the server still answers');
});

test('answers are gzipped for a client that accepts gzip', async (t) => {
  const m = await serve(t);
  const plain = await get(m, '/master/state');
  const { headers, body } = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const req = request(`${m.url}/master/state`, { headers: { 'Accept-Encoding': 'gzip' } }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ headers: r.headers, body: Buffer.concat(chunks) }));
      r.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(headers['content-encoding'], 'gzip');
  assert.deepEqual(JSON.parse(gunzipSync(body).toString('utf8')), plain);
});

// ---- SUBSCRIBE ---------------------------------------------------------------------------------

interface Stream {
  status: number;
  /** The body of a refusal (not a stream). */
  text: string;
  /** next resolves with the next record, parsed; it fails if the stream ends first. */
  next(): Promise<Json>;
  /** close drops the connection, as a client that goes away does. */
  close(): void;
}

/**
 * subscribe sends SUBSCRIBE and reads the answer as RecordIO: a line with a decimal length, then
 * that many bytes of JSON. With read false nothing is read past the headers, as a stalled client.
 */
function subscribe(m: Served, options: { read?: boolean; accept?: string } = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(
      `${m.url}/api/v1`,
      { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', Accept: options.accept ?? 'application/json' } },
      (res) => {
        const records: Json[] = [];
        const waiting: { resolve: (r: Json) => void; reject: (e: Error) => void }[] = [];
        let ended: Error | undefined;
        let buffered = Buffer.alloc(0);
        const close = (): void => {
          req.destroy();
        };
        res.on('error', () => undefined);
        if (res.statusCode !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text, next: () => Promise.reject(new Error('no stream')), close }));
          return;
        }
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const settle = (): void => {
          while (records.length > 0 && waiting.length > 0) waiting.shift()?.resolve(records.shift() as Json);
          if (ended !== undefined) for (const w of waiting.splice(0)) w.reject(ended);
        };
        if (options.read !== false) {
          res.on('data', (chunk: Buffer) => {
            buffered = Buffer.concat([buffered, chunk]);
            for (;;) {
              const nl = buffered.indexOf(0x0a);
              if (nl < 0) break;
              const header = buffered.toString('latin1', 0, nl);
              assert.match(header, /^\d+$/, 'a record starts with its length in bytes');
              const end = nl + 1 + Number(header);
              if (buffered.length < end) break;
              records.push(JSON.parse(buffered.toString('utf8', nl + 1, end)) as Json);
              buffered = buffered.subarray(end);
            }
            settle();
          });
          res.on('close', () => {
            ended = new Error('the stream ended');
            settle();
          });
        }
        resolve({
          status: 200,
          text: '',
          next: () =>
            new Promise<Json>((ok, fail) => {
              waiting.push({ resolve: ok, reject: fail });
              settle();
            }),
          close,
        });
      },
    );
    req.on('error', (e) => reject(e));
    req.end(JSON.stringify({ type: 'SUBSCRIBE' }));
  });
}

/** until polls check until it holds (or fails the test after a few seconds). */
async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function subscribers(m: Served): Promise<unknown> {
  return (await get(m, '/metrics/snapshot'))['master/operator_event_stream_subscribers'];
}

async function expectEvent(s: Stream, type: string): Promise<Json> {
  const e = await s.next();
  assert.equal(e['type'], type, `expected ${type}, got ${JSON.stringify(e).slice(0, 300)}`);
  return e;
}

test('POST /api/v1 SUBSCRIBE streams SUBSCRIBED with the state, then the changes the log records', async (t) => {
  const m = await serveLog(t);
  const s = await subscribe(m);
  assert.equal(s.status, 200);
  const subscribed = obj((await expectEvent(s, 'SUBSCRIBED'))['subscribed']);
  assert.equal(subscribed['heartbeat_interval_seconds'], 15);
  assert.deepEqual(subscribed['get_state'], await call(m, 'GET_STATE'));
  assert.equal(await subscribers(m), 1);

  // A task launched: TASK_ADDED carries it as GET_TASKS lists it.
  await m.append({
    type: 'TasksLaunched',
    at: T0 + 20_000,
    tasks: [{ taskId: 'hello-1b', job: 'web/prod/hello', instance: 1, agentId: 'a1', resources: res('cpus:0.5;mem:64'), ports: {} }],
  });
  const added = obj(obj((await expectEvent(s, 'TASK_ADDED'))['task_added'])['task']);
  assert.deepEqual(added['task_id'], { value: 'hello-1b' });
  assert.deepEqual(added['framework_id'], { value: 'muster' });
  assert.equal(added['state'], 'TASK_STAGING');
  assert.deepEqual(
    added,
    arr((await call(m, 'GET_TASKS'))['tasks']).find((x) => obj(x['task_id'])['value'] === 'hello-1b'),
  );

  // Its status update: TASK_UPDATED with the status recorded.
  await m.append(status('hello-1b', 'TASK_RUNNING', T0 + 21_000));
  assert.deepEqual((await expectEvent(s, 'TASK_UPDATED'))['task_updated'], {
    framework_id: { value: 'muster' },
    status: {
      task_id: { value: 'hello-1b' },
      state: 'TASK_RUNNING',
      agent_id: { value: 'a1' },
      timestamp: (T0 + 21_000) / 1000,
      uuid: Buffer.from('hello-1b-TASK_RUNNING').toString('base64'),
    },
    state: 'TASK_RUNNING',
  });

  // A framework subscribes (a name past ASCII: record lengths count bytes), and one subscribes again.
  await m.append({
    type: 'FrameworkRegistered',
    at: T0 + 22_000,
    framework: { frameworkId: 'fw-2', name: 'chronos ✓ é', user: 'ops', roles: ['batch'], failoverTimeoutSecs: 60, checkpoint: false, capabilities: [] },
  });
  const fw2 = obj(obj((await expectEvent(s, 'FRAMEWORK_ADDED'))['framework_added'])['framework']);
  assert.equal(obj(fw2['framework_info'])['name'], 'chronos ✓ é');
  assert.deepEqual(
    fw2,
    arr((await call(m, 'GET_FRAMEWORKS'))['frameworks']).find((f) => obj(obj(f['framework_info'])['id'])['value'] === 'fw-2'),
  );
  await m.append({
    type: 'FrameworkRegistered',
    at: T0 + 23_000,
    framework: { frameworkId: 'fw-1', name: 'marathon', user: 'root', roles: ['web'], hostname: 'sched.example', failoverTimeoutSecs: 3600, checkpoint: true, capabilities: [] },
  });
  const fw1 = obj(obj((await expectEvent(s, 'FRAMEWORK_UPDATED'))['framework_updated'])['framework']);
  assert.deepEqual(fw1['reregistered_time'], { nanoseconds: (T0 + 23_000) * 1_000_000 });

  // An agent lost, and one back.
  await m.append({ type: 'AgentUnreachable', at: T0 + 24_000, agentId: 'a3', message: 'silent' });
  assert.deepEqual((await expectEvent(s, 'AGENT_REMOVED'))['agent_removed'], { agent_id: { value: 'a3' } });
  await m.append({ ...agent('a2', 'h2', '10.0.0.2'), at: T0 + 25_000 });
  const a2 = obj(obj((await expectEvent(s, 'AGENT_ADDED'))['agent_added'])['agent']);
  assert.deepEqual(
    a2,
    arr((await call(m, 'GET_AGENTS'))['agents']).find((a) => obj(obj(a['agent_info'])['id'])['value'] === 'a2'),
  );

  // A framework removed: FRAMEWORK_REMOVED, and nothing of its tasks after (GET_STATE lists them under no framework).
  await m.append({ type: 'FrameworkRemoved', at: T0 + 26_000, frameworkId: 'fw-1', message: 'torn down' });
  const removed = obj(obj((await expectEvent(s, 'FRAMEWORK_REMOVED'))['framework_removed'])['framework_info']);
  assert.deepEqual(removed['id'], { value: 'fw-1' });
  assert.equal(removed['name'], 'marathon');
  await m.append(status('master-task-7', 'TASK_KILLED', T0 + 27_000));

  // A job killed: the end of its last task is sent, and the job is kept as KILLED with its last tasks.
  await m.append({ type: 'KillRequested', at: T0 + 28_000, job: 'web/prod/hello', instances: [0, 1], restart: false, wholeJob: true, reason: 'REASON_TASK_KILLED' });
  await m.append(status('hello-0', 'TASK_KILLED', T0 + 29_000));
  const first = obj((await expectEvent(s, 'TASK_UPDATED'))['task_updated']);
  assert.deepEqual(obj(first['status'])['task_id'], { value: 'hello-0' }, "the removed framework's task was not sent");
  assert.equal(first['state'], 'TASK_KILLED');
  await m.append(status('hello-1b', 'TASK_KILLED', T0 + 30_000));
  assert.equal(m.log.state.jobs.get('web/prod/hello')?.state, 'KILLED', 'the job has ended and is kept for the retention');
  const last = obj((await expectEvent(s, 'TASK_UPDATED'))['task_updated']);
  assert.deepEqual(last['framework_id'], { value: 'muster' });
  assert.deepEqual(obj(last['status'])['task_id'], { value: 'hello-1b' });
  assert.equal(last['state'], 'TASK_KILLED');
});

test('SUBSCRIBE streams send HEARTBEAT at the interval SUBSCRIBED announces', async (t) => {
  const m = await serveLog(t, { heartbeatSecs: 0.05 });
  const s = await subscribe(m);
  assert.equal(obj((await expectEvent(s, 'SUBSCRIBED'))['subscribed'])['heartbeat_interval_seconds'], 0.05);
  assert.deepEqual(await s.next(), { type: 'HEARTBEAT' });
  assert.deepEqual(await s.next(), { type: 'HEARTBEAT' });
});

test('SUBSCRIBE checks Accept as the other calls do', async (t) => {
  const m = await serveLog(t);
  const s = await subscribe(m, { accept: 'text/html' });
  assert.equal(s.status, 406);
  assert.equal(m.listening(), 0);
});

test(`a client that closes its SUBSCRIBE stream is unsubscribed; past ${MAX_OPERATOR_SUBSCRIBERS} streams, SUBSCRIBE is refused with 503`, async (t) => {
  const m = await serveLog(t);
  const streams: Stream[] = [];
  for (let i = 0; i < MAX_OPERATOR_SUBSCRIBERS; i++) {
    const s = await subscribe(m);
    assert.equal(s.status, 200);
    await expectEvent(s, 'SUBSCRIBED');
    streams.push(s);
  }
  assert.equal(m.listening(), 1, 'one listener on the log serves every stream');
  assert.equal(await subscribers(m), MAX_OPERATOR_SUBSCRIBERS);
  const refused = await subscribe(m);
  assert.equal(refused.status, 503);
  assert.match(refused.text, new RegExp(`${MAX_OPERATOR_SUBSCRIBERS} subscribers`));

  streams.pop()?.close();
  await until('the closed stream is dropped', async () => (await subscribers(m)) === MAX_OPERATOR_SUBSCRIBERS - 1);
  const again = await subscribe(m);
  assert.equal(again.status, 200);
  await expectEvent(again, 'SUBSCRIBED');
  streams.push(again);

  for (const s of streams) s.close();
  await until('every stream is dropped', async () => (await subscribers(m)) === 0);
  assert.equal(m.listening(), 0, 'the log is no longer listened to');
  // A stream opened afterwards listens again and hears what is appended.
  const later = await subscribe(m);
  await expectEvent(later, 'SUBSCRIBED');
  await m.append({ type: 'AgentUnreachable', at: T0 + 24_000, agentId: 'a3', message: 'silent' });
  await expectEvent(later, 'AGENT_REMOVED');
  later.close();
});

test('a SUBSCRIBE stream whose client stops reading is ended once it holds too much unsent', async (t) => {
  const m = await serveLog(t, { heartbeatSecs: 0.05 });
  const stalled = await subscribe(m, { read: false });
  t.after(() => stalled.close());
  assert.equal(stalled.status, 200);
  assert.equal(await subscribers(m), 1);
  // 32 frameworks with 1 MiB names: more than the socket buffers and the stream's 8 MiB hold.
  const big = 'x'.repeat(1024 * 1024);
  const events: Event[] = [];
  for (let i = 0; i < 32; i++) {
    events.push({
      type: 'FrameworkRegistered',
      at: T0 + 30_000 + i,
      framework: { frameworkId: `big-${i}`, name: big, user: 'u', roles: ['*'], failoverTimeoutSecs: 0, checkpoint: false, capabilities: [] },
    });
  }
  await m.append(...events);
  await until('the stalled stream is dropped', async () => (await subscribers(m)) === 0);
  assert.equal(m.listening(), 0);
});
