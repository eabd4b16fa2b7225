import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResourceFlag, validateJobSpec, type Resources } from '../core/index.js';
import { endpointsOf, liveJob, readyEndpoints } from './discovery.js';
import { apply, emptyState, type CellState, type Event, type JobRecord } from './state/index.js';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

/** cell: two agents, a 3-instance service with a health check, its three tasks launched (instance i on agent a(i % 2)). */
function cell(): { state: CellState; job: () => JobRecord; status: (taskId: string, state: string, healthy?: boolean) => void } {
  const state = emptyState();
  let at = 0;
  const add = (event: Event): void => apply(state, event);
  for (const id of ['a0', 'a1']) {
    add({ type: 'AgentRegistered', at: at++, agent: { agentId: id, hostname: `host-${id}`, address: `10.0.0.${id === 'a0' ? 1 : 2}`, port: 5051, resources: res('cpus:4;mem:4096;ports:[31000-31010]'), attributes: {}, version: 'test' } });
  }
  add({
    type: 'JobCreated',
    at: at++,
    spec: validateJobSpec({ job: 'web/prod/api', instances: 3, resources: { cpus: 1, mem: 64, ports: ['http'] }, processes: [{ name: 'main', cmd: 'x' }], health: { tcp: { port: 'http' } } }),
  });
  add({
    type: 'TasksLaunched',
    at: at++,
    tasks: [0, 1, 2].map((i) => ({ taskId: `t${i}`, job: 'web/prod/api', instance: i, agentId: `a${i % 2}`, resources: res('cpus:1;mem:64'), ports: { http: 31000 + i } })),
  });
  const status = (taskId: string, s: string, healthy?: boolean): void =>
    add({ type: 'TaskStatusUpdated', at: at++, status: { taskId, state: s as 'TASK_RUNNING', uuid: `u${at}`, timestamp: at, ...(healthy === undefined ? {} : { healthy }) } });
  return { state, job: () => liveJob(state, 'web', 'prod', 'api') as JobRecord, status };
}

test('an instance is ready once its task runs and its health check has passed, not before', () => {
  const { state, job, status } = cell();
  assert.deepEqual(readyEndpoints(state, job()), [], 'staging tasks are not ready');
  assert.deepEqual(endpointsOf(state, job()).map((e) => e.why), ['it is TASK_STAGING', 'it is TASK_STAGING', 'it is TASK_STAGING']);
  for (const t of ['t0', 't1', 't2']) status(t, 'TASK_RUNNING');
  assert.deepEqual(readyEndpoints(state, job()), [], 'running, but the check has not passed yet');
  assert.equal(endpointsOf(state, job())[0]?.why, 'its health check has not passed yet');
  for (const t of ['t0', 't1', 't2']) status(t, 'TASK_RUNNING', true);
  const ready = readyEndpoints(state, job());
  assert.deepEqual(ready.map((e) => [e.instance, e.host, e.address, e.ports['http']]), [
    [0, 'host-a0', '10.0.0.1', 31000],
    [1, 'host-a1', '10.0.0.2', 31001],
    [2, 'host-a0', '10.0.0.1', 31002],
  ]);
  status('t1', 'TASK_RUNNING', false);
  assert.deepEqual(readyEndpoints(state, job()).map((e) => e.instance), [0, 2], 'an unhealthy one leaves at once');
  assert.equal(endpointsOf(state, job())[1]?.why, 'it is unhealthy');
});

test('a draining host\'s instances leave before they are killed; a killed or unreachable one is not ready; an ended one is gone', () => {
  const { state, job, status } = cell();
  for (const t of ['t0', 't1', 't2']) status(t, 'TASK_RUNNING', true);
  apply(state, { type: 'HostMaintenance', at: 100, hostnames: ['host-a0'], mode: 'DRAINING' });
  assert.deepEqual(readyEndpoints(state, job()).map((e) => e.instance), [1], 'the tasks on the draining host are still running, and not ready');
  assert.equal(endpointsOf(state, job())[0]?.why, 'its host host-a0 is draining');
  apply(state, { type: 'HostMaintenance', at: 101, hostnames: ['host-a0'], mode: 'ACTIVE' });
  assert.deepEqual(readyEndpoints(state, job()).map((e) => e.instance), [0, 1, 2]);

  apply(state, { type: 'AgentUnreachable', at: 102, agentId: 'a1', message: 'silent' });
  assert.deepEqual(readyEndpoints(state, job()).map((e) => e.instance), [0, 2], 'an unreachable agent\'s instance is not ready');

  status('t2', 'TASK_FINISHED');
  assert.deepEqual(endpointsOf(state, job()).map((e) => e.instance), [0, 1], 'an ended task is no endpoint at all');
});

test('a killed job has no endpoints to look up', () => {
  const { state } = cell();
  assert.ok(liveJob(state, 'web', 'prod', 'api') !== undefined);
  assert.equal(liveJob(state, 'web', 'prod', 'nope'), undefined);
});
