import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResourceFlag, validateJobSpec, type JobSpec, type Resources, type TaskState } from '../../core/index.js';
import { apply, emptyState, type CellState, type Event } from '../state/index.js';
import { drainKills } from './drain.js';

const WEB = 'web/prod/hello';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

function spec(job: string, over: Record<string, unknown> = {}): JobSpec {
  return validateJobSpec({
    job,
    kind: 'service',
    instances: 4,
    resources: { cpus: 0.1, mem: '16MiB' },
    processes: [{ name: 'main', cmd: 'sleep 100' }],
    update: { batchSize: 2 },
    ...over,
  });
}

const registered = (agentId: string, hostname: string): Event => ({
  type: 'AgentRegistered',
  at: 0,
  agent: { agentId, hostname, address: '10.0.0.1', port: 5051, resources: res('cpus:8;mem:8192'), attributes: {}, version: '0' },
});

const launched = (taskId: string, job: string, instance: number, agentId: string, at = 10): Event => ({
  type: 'TasksLaunched',
  at,
  tasks: [{ taskId, job, instance, agentId, resources: res('cpus:0.1;mem:16'), ports: {} }],
});

const status = (taskId: string, state: TaskState, at: number, healthy?: boolean): Event => ({
  type: 'TaskStatusUpdated',
  at,
  status: { taskId, state, uuid: `${taskId}-${state}-${at}-${String(healthy)}`, timestamp: at, ...(healthy === undefined ? {} : { healthy }) },
});

/**
 * cellWith: agents a1 (host A) and a2 (host B), and a job whose every instance runs on a1 as task
 * "<name>-<i>". Host A is draining when `drain` is set (as apply() will record HostMaintenance).
 */
function cellWith(jobs: JobSpec[], drain = true): CellState {
  const s = emptyState();
  apply(s, registered('a1', 'A'));
  apply(s, registered('a2', 'B'));
  for (const j of jobs) {
    apply(s, { type: 'JobCreated', at: 1, spec: j });
    for (let i = 0; i < j.instances; i++) {
      apply(s, launched(taskId(j.job, i), j.job, i, 'a1'));
      // A job with a health check serves once its check has passed.
      apply(s, status(taskId(j.job, i), 'TASK_RUNNING', 11, j.health === undefined ? undefined : true));
    }
  }
  if (drain) s.maintenance.set('A', { hostname: 'A', mode: 'DRAINING', since: 20 });
  return s;
}

function taskId(job: string, instance: number, run = 0): string {
  return `${job.replaceAll('/', '-')}-${instance}${run === 0 ? '' : `-r${run}`}`;
}

/** killed applies the events and returns the instances each asked to move, by job. */
function killed(s: CellState, events: Event[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const e of events) {
    assert.equal(e.type, 'KillRequested');
    if (e.type !== 'KillRequested') continue;
    assert.equal(e.restart, true, 'a drained instance runs again elsewhere');
    assert.equal(e.wholeJob, false);
    assert.equal(e.reason, 'REASON_AGENT_DRAINING');
    out[e.job] = e.instances;
    apply(s, e);
  }
  return out;
}

/** replace ends an instance's killed task and runs its replacement on a2 in the given state. */
function replace(s: CellState, job: string, instance: number, state: TaskState, at: number, healthy?: boolean): void {
  const old = s.jobs.get(job)?.instances[instance]?.taskId;
  assert.ok(old !== undefined);
  apply(s, status(old, 'TASK_KILLED', at));
  assert.equal(s.jobs.get(job)?.instances[instance]?.state, 'PENDING', 'a task killed to move runs again');
  const next = taskId(job, instance, at);
  apply(s, launched(next, job, instance, 'a2', at));
  if (state !== 'TASK_STAGING') apply(s, status(next, state, at, healthy));
}

test('drainKills() returns nothing when no host is draining', () => {
  const s = cellWith([spec(WEB)], false);
  assert.deepEqual(drainKills(s, 30), []);
});

test('drainKills() moves a service off a draining host in batches of update.batchSize', () => {
  const s = cellWith([spec(WEB)]);
  assert.deepEqual(killed(s, drainKills(s, 30)), { [WEB]: [0, 1] });
  assert.deepEqual(drainKills(s, 31), [], 'nothing more moves while the first batch is being killed');

  replace(s, WEB, 0, 'TASK_RUNNING', 40);
  assert.deepEqual(killed(s, drainKills(s, 41)), { [WEB]: [2] }, 'one replacement running makes room for one more');
  replace(s, WEB, 1, 'TASK_RUNNING', 42);
  assert.deepEqual(killed(s, drainKills(s, 43)), { [WEB]: [3] });
  replace(s, WEB, 2, 'TASK_RUNNING', 44);
  replace(s, WEB, 3, 'TASK_RUNNING', 45);
  assert.deepEqual(drainKills(s, 46), [], 'nothing is left on the host');
});

test('drainKills() waits until the replacements run, not just launch', () => {
  const s = cellWith([spec(WEB)]);
  killed(s, drainKills(s, 30));
  replace(s, WEB, 0, 'TASK_STAGING', 40);
  replace(s, WEB, 1, 'TASK_STARTING', 41);
  assert.deepEqual(drainKills(s, 42), [], 'replacements that are not running yet hold the batch');
  apply(s, status(taskId(WEB, 0, 40), 'TASK_RUNNING', 43));
  assert.deepEqual(killed(s, drainKills(s, 44)), { [WEB]: [2] });
});

test('drainKills() waits for a replacement until its health check has passed', () => {
  const s = cellWith([spec(WEB, { update: { batchSize: 1 }, health: { command: { cmd: 'true' } } })]);
  assert.deepEqual(killed(s, drainKills(s, 30)), { [WEB]: [0] });
  replace(s, WEB, 0, 'TASK_RUNNING', 40);
  assert.deepEqual(drainKills(s, 41), [], 'a replacement not yet checked does not count as moved');
  apply(s, status(taskId(WEB, 0, 40), 'TASK_RUNNING', 41, false));
  assert.deepEqual(drainKills(s, 41), [], 'nor an unhealthy one');
  apply(s, status(taskId(WEB, 0, 40), 'TASK_RUNNING', 42, true));
  assert.deepEqual(killed(s, drainKills(s, 43)), { [WEB]: [1] });
});

test('drainKills() counts instances already pending or restarting against the batch', () => {
  const s = cellWith([spec(WEB)]);
  // A user restarts instance 3 just before the drain: it is in motion, so only one more may move.
  apply(s, { type: 'KillRequested', at: 25, job: WEB, instances: [3], restart: true, wholeJob: false, reason: 'REASON_INSTANCE_RESTARTED' });
  assert.deepEqual(killed(s, drainKills(s, 30)), { [WEB]: [0] });
});

test('drainKills() moves an instance not yet running on the draining host without using the batch', () => {
  const s = cellWith([spec(WEB, { update: { batchSize: 1 } })]);
  // Instance 1 was relaunched on A just before the drain and has not started.
  apply(s, status(taskId(WEB, 1), 'TASK_FAILED', 21));
  apply(s, launched('late', WEB, 1, 'a1', 22));
  assert.deepEqual(killed(s, drainKills(s, 30)), { [WEB]: [1] }, 'the unstarted one moves; it filled the batch already');
});

test('drainKills() leaves batch jobs and other hosts alone', () => {
  const batch = spec('etl/prod/nightly', { kind: 'batch', instances: 2 });
  const s = cellWith([batch]);
  const other = spec('web/prod/other');
  apply(s, { type: 'JobCreated', at: 1, spec: other });
  for (let i = 0; i < 4; i++) {
    apply(s, launched(taskId(other.job, i), other.job, i, 'a2'));
    apply(s, status(taskId(other.job, i), 'TASK_RUNNING', 11));
  }
  assert.deepEqual(drainKills(s, 30), [], 'batch tasks finish where they are; host B is not draining');
});

test('drainKills() treats a job spec without update.batchSize as a batch of one', () => {
  // A spec logged before update existed has no such field.
  const { update: _dropped, ...old } = spec(WEB);
  const s = cellWith([old as JobSpec]);
  assert.deepEqual(killed(s, drainKills(s, 30)), { [WEB]: [0] });
});

test('drainKills() moves several services at once, each within its own batch', () => {
  const s = cellWith([spec(WEB), spec('api/prod/a', { instances: 3, update: { batchSize: 3 } })]);
  assert.deepEqual(killed(s, drainKills(s, 30)), { 'api/prod/a': [0, 1, 2], [WEB]: [0, 1] });
});
