import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseResourceFlag, validateJobSpec, type JobSpec, type Resources } from '../../core/index.js';
import { apply } from './apply.js';
import type { Event } from './events.js';
import { deserializeState, emptyState, prunePendingJobs, serializeState, type CellState } from './state.js';

function res(text: string): Resources {
  return { cpusMilli: 0, memMiB: 0, diskMiB: 0, gpus: 0, ports: [], ...parseResourceFlag(text) };
}

function spec(over: Record<string, unknown> = {}): JobSpec {
  return validateJobSpec({
    job: 'web/prod/hello',
    kind: 'service',
    instances: 2,
    resources: { cpus: 0.5, mem: '64MiB' },
    processes: [{ name: 'main', cmd: 'sleep 100' }],
    ...over,
  });
}

function cell(...events: Event[]): CellState {
  const s = emptyState();
  for (const e of [
    {
      type: 'AgentRegistered',
      at: 0,
      agent: { agentId: 'a1', hostname: 'h1', address: '10.0.0.1', port: 5051, resources: res('cpus:4;mem:4096;ports:[31000-31010]'), attributes: {}, version: '0' },
    } satisfies Event,
    ...events,
  ]) {
    apply(s, e);
  }
  return s;
}

const launched = (taskId: string, instance: number, at = 10, job = 'web/prod/hello'): Event => ({
  type: 'TasksLaunched',
  at,
  tasks: [{ taskId, job, instance, agentId: 'a1', resources: res('cpus:0.5;mem:64;ports:[31000-31000]'), ports: { http: 31000 } }],
});

const status = (taskId: string, state: Extract<Event, { type: 'TaskStatusUpdated' }>['status']['state'], at: number, uuid = `${taskId}-${state}-${at}`): Event => ({
  type: 'TaskStatusUpdated',
  at,
  status: { taskId, state, uuid, timestamp: at },
});

test('apply() makes a created job pending and a launch uses the agent resources', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec() }, launched('t0', 0));
  const job = s.jobs.get('web/prod/hello');
  assert.equal(job?.instances[0]?.state, 'ACTIVE');
  assert.equal(job?.instances[1]?.state, 'PENDING');
  assert.equal(s.tasks.get('t0')?.state, 'TASK_STAGING');
  assert.equal(s.agents.get('a1')?.used.cpusMilli, 500);
  assert.deepEqual(s.agents.get('a1')?.used.ports, [{ begin: 31000, end: 31000 }]);
});

test('apply() frees resources when a task ends and restarts a service instance after backoff', () => {
  const s = cell(
    { type: 'JobCreated', at: 1, spec: spec({ restartBackoff: { initialSecs: 2, maxSecs: 30, stableSecs: 60 } }) },
    launched('t0', 0, 10),
    status('t0', 'TASK_RUNNING', 20),
    status('t0', 'TASK_FAILED', 1020),
  );
  const inst = s.jobs.get('web/prod/hello')?.instances[0];
  assert.equal(inst?.state, 'PENDING');
  assert.equal(inst?.failures, 1);
  assert.equal(inst?.notBefore, 1020 + 2000);
  assert.equal(s.agents.get('a1')?.used.cpusMilli, 0);
  assert.deepEqual(s.agents.get('a1')?.used.ports, []);
});

test('apply() doubles the backoff of a flapping service instance and resets it after a stable run', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec({ restartBackoff: { initialSecs: 1, maxSecs: 3, stableSecs: 60 } }) });
  const delays: number[] = [];
  let at = 10;
  for (let n = 0; n < 4; n++) {
    apply(s, launched(`t${n}`, 0, at));
    apply(s, status(`t${n}`, 'TASK_RUNNING', at + 1));
    apply(s, status(`t${n}`, 'TASK_FAILED', at + 2));
    const inst = s.jobs.get('web/prod/hello')?.instances[0];
    delays.push((inst?.notBefore ?? 0) - (at + 2));
    at += 10_000;
  }
  assert.deepEqual(delays, [1000, 2000, 3000, 3000]);
  apply(s, launched('stable', 0, at));
  apply(s, status('stable', 'TASK_RUNNING', at));
  apply(s, status('stable', 'TASK_FAILED', at + 61_000));
  const inst = s.jobs.get('web/prod/hello')?.instances[0];
  assert.equal(inst?.failures, 0);
  assert.equal(inst?.notBefore, at + 61_000);
});

test('apply() ignores a status retry and any update after a task ended', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec() }, launched('t0', 0), status('t0', 'TASK_FINISHED', 20, 'u1'));
  apply(s, status('t0', 'TASK_RUNNING', 30, 'u2'));
  assert.equal(s.tasks.get('t0')?.state, 'TASK_FINISHED');
});

test('apply() fails a batch job once an instance has failed maxTaskFailures times, and kills the rest', () => {
  const s = cell({
    type: 'JobCreated',
    at: 1,
    spec: spec({ kind: 'batch', maxTaskFailures: 2, restartBackoff: { initialSecs: 0, maxSecs: 0, stableSecs: 60 } }),
  });
  apply(s, launched('a', 0, 10));
  apply(s, launched('b', 1, 10));
  apply(s, status('a', 'TASK_FAILED', 20));
  assert.equal(s.jobs.get('web/prod/hello')?.instances[0]?.state, 'PENDING');
  assert.equal(s.jobs.get('web/prod/hello')?.state, 'ACTIVE');
  apply(s, launched('a2', 0, 30));
  apply(s, status('a2', 'TASK_FAILED', 40));
  const job = s.jobs.get('web/prod/hello');
  assert.equal(job?.instances[0]?.state, 'FAILED');
  assert.equal(job?.instances[0]?.failures, 2);
  assert.equal(job?.state, 'FAILED');
  assert.equal(s.tasks.get('b')?.kill?.reason, 'REASON_JOB_FAILED');
  assert.ok(s.killing.has('b'));
  apply(s, status('b', 'TASK_KILLED', 50));
  assert.equal(job?.instances[1]?.state, 'KILLED');
  assert.equal(s.killing.size, 0);
});

test('apply() finishes a batch job when every instance succeeded', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec({ kind: 'batch' }) }, launched('a', 0), launched('b', 1));
  apply(s, status('a', 'TASK_FINISHED', 20));
  assert.equal(s.jobs.get('web/prod/hello')?.state, 'ACTIVE');
  apply(s, status('b', 'TASK_FINISHED', 30));
  assert.equal(s.jobs.get('web/prod/hello')?.state, 'FINISHED');
  assert.equal(s.jobs.get('web/prod/hello')?.endedAt, 30);
});

test('apply() does not count a task lost with its agent against a batch instance', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec({ kind: 'batch', maxTaskFailures: 1 }) }, launched('a', 0));
  apply(s, status('a', 'TASK_LOST', 20));
  const inst = s.jobs.get('web/prod/hello')?.instances[0];
  assert.equal(inst?.state, 'PENDING');
  assert.equal(inst?.failures, 0);
  assert.equal(inst?.notBefore, 20);
});

test('apply() marks the tasks of an unreachable agent and takes one back if its instance was not replaced', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec() }, launched('t0', 0), launched('t1', 1), status('t0', 'TASK_RUNNING', 11), status('t1', 'TASK_RUNNING', 11));
  apply(s, { type: 'AgentUnreachable', at: 100, agentId: 'a1', message: 'silent' });
  const job = s.jobs.get('web/prod/hello');
  assert.equal(s.tasks.get('t0')?.state, 'TASK_UNREACHABLE');
  assert.equal(job?.instances[0]?.state, 'PENDING');
  assert.equal(job?.instances[1]?.state, 'PENDING');
  // Instance 1 is placed again elsewhere; instance 0 is not.
  apply(s, launched('t1b', 1, 110));
  apply(s, status('t0', 'TASK_RUNNING', 120, 'back'));
  assert.equal(job?.instances[0]?.state, 'ACTIVE');
  assert.equal(job?.instances[0]?.taskId, 't0');
  assert.equal(job?.instances[1]?.taskId, 't1b');
  assert.deepEqual(job?.instances[1]?.previousTaskIds, ['t1']);
});

test('apply() kills one instance for good, restarts another, and ends a killed job (KILLED, kept for the retention) once its tasks ended', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec() }, launched('t0', 0), launched('t1', 1));
  apply(s, { type: 'KillRequested', at: 20, job: 'web/prod/hello', instances: [1], restart: true, wholeJob: false, reason: 'REASON_INSTANCE_RESTARTED' });
  apply(s, status('t1', 'TASK_KILLED', 21));
  const job = s.jobs.get('web/prod/hello');
  assert.equal(job?.instances[1]?.state, 'PENDING');
  assert.equal(job?.instances[1]?.notBefore, 21);
  apply(s, { type: 'KillRequested', at: 30, job: 'web/prod/hello', instances: [0], restart: false, wholeJob: false, reason: 'REASON_KILLED_BY_USER' });
  apply(s, status('t0', 'TASK_KILLED', 31));
  assert.equal(job?.instances[0]?.state, 'KILLED');
  assert.equal(job?.state, 'ACTIVE');
  apply(s, { type: 'KillRequested', at: 40, job: 'web/prod/hello', instances: [0, 1], restart: false, wholeJob: true, reason: 'REASON_KILLED_BY_USER' });
  assert.equal(s.jobs.get('web/prod/hello')?.state, 'KILLED', 'instance 1 was pending, so the job ends at once');
  assert.equal(s.tasks.get('t0')?.state, 'TASK_KILLED', 'its last task is kept with it');
});

test('a snapshot round-trips the state, derived indexes included', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec() }, launched('t0', 0), launched('t1', 1));
  apply(s, { type: 'KillRequested', at: 20, job: 'web/prod/hello', instances: [1], restart: false, wholeJob: false, reason: 'REASON_KILLED_BY_USER' });
  const back = deserializeState(serializeState(s));
  prunePendingJobs(s);
  assert.deepEqual(back, s);
  assert.deepEqual([...back.killing], ['t1']);
});

test('replaying the same events gives the same state', () => {
  const events: Event[] = [{ type: 'JobCreated', at: 1, spec: spec() }, launched('t0', 0), status('t0', 'TASK_RUNNING', 12), status('t0', 'TASK_FAILED', 13)];
  assert.equal(serializeState(cell(...events)), serializeState(cell(...events)));
});

const agentWithGpus: Event = {
  type: 'AgentRegistered',
  at: 0,
  agent: { agentId: 'g1', hostname: 'gh1', address: '10.0.0.2', port: 5051, resources: res('cpus:8;mem:8192;gpus:2'), attributes: {}, version: '0' },
};

test('apply() holds a revocable task in the agent slack and frees exactly that when it ends', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec({ job: 'batch/prod/crunch', tier: 'revocable', resources: { cpus: 1, mem: '256MiB', disk: '100MiB' } }) });
  apply(s, {
    type: 'TasksLaunched',
    at: 10,
    tasks: [{ taskId: 'r0', job: 'batch/prod/crunch', instance: 0, agentId: 'a1', resources: res('cpus:1;mem:256;disk:100;ports:[31005-31005]'), ports: { p: 31005 }, revocable: true }],
  });
  const agent = s.agents.get('a1');
  assert.equal(agent?.used.cpusMilli, 0, 'cpus are held in slack, not in the reservable capacity');
  assert.equal(agent?.used.memMiB, 0);
  assert.equal(agent?.used.diskMiB, 100);
  assert.deepEqual(agent?.used.ports, [{ begin: 31005, end: 31005 }]);
  assert.deepEqual(agent?.revocableUsed, { cpusMilli: 1000, memMiB: 256 });
  apply(s, status('r0', 'TASK_FAILED', 20));
  assert.deepEqual(agent?.revocableUsed, { cpusMilli: 0, memMiB: 0 });
  assert.equal(agent?.used.diskMiB, 0);
  assert.deepEqual(agent?.used.ports, []);
});

test('apply() counts GPU shares per device and gives them back when the task ends, even after its job is gone', () => {
  const s = cell(agentWithGpus, { type: 'JobCreated', at: 1, spec: spec({ job: 'ml/prod/train', instances: 2, resources: { cpus: 1, mem: 64, gpus: 0.5 } }) });
  const gpuTask = (taskId: string, instance: number, device: number): Event => ({
    type: 'TasksLaunched',
    at: 10,
    tasks: [{ taskId, job: 'ml/prod/train', instance, agentId: 'g1', resources: res('cpus:1;mem:64'), ports: {}, gpus: [{ device, milli: 500 }] }],
  });
  apply(s, gpuTask('t0', 0, 1));
  apply(s, gpuTask('t1', 1, 1));
  const agent = s.agents.get('g1');
  assert.deepEqual(agent?.gpuUsed, [0, 1000]);
  assert.deepEqual(s.tasks.get('t0')?.gpus, [{ device: 1, milli: 500 }]);
  apply(s, status('t0', 'TASK_FAILED', 20));
  assert.deepEqual(agent?.gpuUsed, [0, 500]);
  apply(s, { type: 'KillRequested', at: 30, job: 'ml/prod/train', instances: [0, 1], restart: false, wholeJob: true, reason: 'REASON_KILLED_BY_USER' });
  apply(s, status('t1', 'TASK_KILLED', 31));
  assert.equal(s.jobs.get('ml/prod/train')?.state, 'KILLED');
  assert.deepEqual(agent?.gpuUsed, [0, 0]);
  assert.equal(agent?.used.cpusMilli, 0);
});

/** preemptionCell: a preemptible job with a task on a1 and a preferred job pending for its room. */
function preemptionCell(): CellState {
  const s = cell(
    { type: 'JobCreated', at: 1, spec: spec({ job: 'batch/prod/low', instances: 1, tier: 'preemptible' }) },
    launched('low0', 0, 10, 'batch/prod/low'),
    status('low0', 'TASK_RUNNING', 11),
    { type: 'JobCreated', at: 20, spec: spec({ job: 'web/prod/high', instances: 1, tier: 'preferred', priority: 200 }) },
  );
  apply(s, { type: 'TasksPreempted', at: 30, preemptions: [{ job: 'web/prod/high', instance: 0, agentId: 'a1', victims: ['low0'] }], reclaimed: [] });
  return s;
}

test('apply() kills preempted tasks with REASON_PREEMPTED and has the preemptor wait for them', () => {
  const s = preemptionCell();
  const victim = s.tasks.get('low0');
  assert.equal(victim?.kill?.reason, 'REASON_PREEMPTED');
  assert.equal(victim?.kill?.restart, true);
  assert.ok(s.killing.has('low0'));
  assert.equal(s.jobs.get('batch/prod/low')?.instances[0]?.preempted, true);
  assert.deepEqual(s.jobs.get('web/prod/high')?.instances[0]?.awaitingVictims, ['low0']);
});

test('apply() puts a preempted instance back to pending, still marked preempted, and frees the preemptor once its victims ended', () => {
  const s = preemptionCell();
  apply(s, { type: 'TaskStatusUpdated', at: 40, status: { taskId: 'low0', state: 'TASK_KILLED', reason: 'REASON_PREEMPTED', uuid: 'k', timestamp: 40 } });
  const low = s.jobs.get('batch/prod/low')?.instances[0];
  assert.equal(low?.state, 'PENDING');
  assert.equal(low?.preempted, true, 'it may not preempt in turn');
  assert.equal(low?.notBefore, 40);
  const high = s.jobs.get('web/prod/high')?.instances[0];
  assert.equal(high?.awaitingVictims, undefined, 'it may preempt again if someone else took the room');
  assert.equal(s.killing.size, 0);
  // Launching either instance clears its marks.
  apply(s, launched('high0', 0, 50, 'web/prod/high'));
  apply(s, launched('low1', 0, 50, 'batch/prod/low'));
  assert.equal(high?.state, 'ACTIVE');
  assert.equal(low?.preempted, undefined);
});

test('apply() keeps the link from a victim to its preemptor when a user kills the victim for good', () => {
  const s = preemptionCell();
  apply(s, { type: 'KillRequested', at: 35, job: 'batch/prod/low', instances: [0], restart: false, wholeJob: false, reason: 'REASON_KILLED_BY_USER' });
  assert.equal(s.tasks.get('low0')?.kill?.restart, false);
  apply(s, status('low0', 'TASK_KILLED', 40));
  assert.equal(s.jobs.get('batch/prod/low')?.state, 'KILLED', 'its only instance was killed, so the job has ended');
  assert.equal(s.jobs.get('web/prod/high')?.instances[0]?.awaitingVictims, undefined);
});

test('apply() stops a preemptor waiting for a victim whose agent became unreachable', () => {
  const s = preemptionCell();
  apply(s, { type: 'AgentUnreachable', at: 40, agentId: 'a1', message: 'silent' });
  assert.equal(s.jobs.get('web/prod/high')?.instances[0]?.awaitingVictims, undefined);
});

test('apply() kills reclaimed revocable tasks with REASON_PREEMPTED and leaves tasks already being killed alone', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec({ job: 'batch/prod/crunch', tier: 'revocable' }) });
  apply(s, {
    type: 'TasksLaunched',
    at: 10,
    tasks: [0, 1].map((i) => ({ taskId: `r${i}`, job: 'batch/prod/crunch', instance: i, agentId: 'a1', resources: res('cpus:0.5;mem:64'), ports: {}, revocable: true })),
  });
  apply(s, { type: 'KillRequested', at: 15, job: 'batch/prod/crunch', instances: [1], restart: false, wholeJob: false, reason: 'REASON_KILLED_BY_USER' });
  apply(s, { type: 'TasksPreempted', at: 20, preemptions: [], reclaimed: ['r0', 'r1', 'gone'] });
  assert.deepEqual(s.tasks.get('r0')?.kill, { at: 20, reason: 'REASON_PREEMPTED', restart: true });
  assert.equal(s.tasks.get('r1')?.kill?.reason, 'REASON_KILLED_BY_USER');
  apply(s, status('r0', 'TASK_KILLED', 30));
  assert.equal(s.jobs.get('batch/prod/crunch')?.instances[0]?.state, 'PENDING', 'a reclaimed task is placed again');
});

test('apply() drains a host once and activates it again', () => {
  const s = cell({ type: 'HostMaintenance', at: 5, hostnames: ['h1', 'h2'], mode: 'DRAINING' });
  apply(s, { type: 'HostMaintenance', at: 9, hostnames: ['h1'], mode: 'DRAINING' });
  assert.deepEqual(s.maintenance.get('h1'), { hostname: 'h1', mode: 'DRAINING', since: 5 });
  apply(s, { type: 'HostMaintenance', at: 10, hostnames: ['h2', 'h3'], mode: 'ACTIVE' });
  assert.deepEqual([...s.maintenance.keys()], ['h1']);
  assert.deepEqual(deserializeState(serializeState(s)).maintenance, s.maintenance);
});

test('a snapshot round-trips preemption marks, slack and GPU use', () => {
  const s = preemptionCell();
  apply(s, agentWithGpus);
  apply(s, { type: 'JobCreated', at: 40, spec: spec({ job: 'ml/prod/train', instances: 1, tier: 'revocable', resources: { cpus: 1, mem: 64, gpus: 1 } }) });
  apply(s, {
    type: 'TasksLaunched',
    at: 41,
    tasks: [{ taskId: 'g0', job: 'ml/prod/train', instance: 0, agentId: 'g1', resources: res('cpus:1;mem:64;gpus:1'), ports: {}, gpus: [{ device: 0, milli: 1000 }], revocable: true }],
  });
  const back = deserializeState(serializeState(s));
  prunePendingJobs(s);
  assert.deepEqual(back, s);
});

// ---- external frameworks -------------------------------------------------------------------------

const registered = (frameworkId: string, at = 1): Event => ({
  type: 'FrameworkRegistered',
  at,
  framework: { frameworkId, name: 'fw', user: 'root', roles: ['test'], failoverTimeoutSecs: 60, checkpoint: false, capabilities: [] },
});

const frameworkTask = (frameworkId: string, taskId: string, externalId: string, at = 2): Event => ({
  type: 'TasksLaunched',
  at,
  tasks: [
    {
      taskId,
      job: `test/framework/${frameworkId}`,
      instance: 0,
      frameworkId,
      agentId: 'a1',
      resources: res('cpus:1;mem:256'),
      ports: {},
      launch: { name: externalId, externalId, cmd: 'true', env: {}, killGraceSecs: 3 },
    },
  ],
});

const fwStatus = (taskId: string, state: 'TASK_RUNNING' | 'TASK_FINISHED', uuid: string, at: number): Event => ({
  type: 'TaskStatusUpdated',
  at,
  status: { taskId, state, uuid, timestamp: at },
});

void test("a framework's task holds its agent's resources, and an ended one is kept until its end is acknowledged", () => {
  const s = cell(registered('f1'), frameworkTask('f1', 't1', 'ext-1'), fwStatus('t1', 'TASK_RUNNING', 'u1', 3));
  assert.equal(s.agents.get('a1')?.used.cpusMilli, 1000);
  assert.equal(s.tasks.get('t1')?.unacked, 'u1');
  assert.equal(s.frameworks.get('f1')?.byExternalId.get('ext-1'), 't1');
  apply(s, fwStatus('t1', 'TASK_FINISHED', 'u2', 4));
  assert.equal(s.agents.get('a1')?.used.cpusMilli, 0, 'an ended task gives its resources back at once');
  // An ack of an older update does nothing; of the latest, forgets the ended task.
  apply(s, { type: 'StatusAcknowledged', at: 5, frameworkId: 'f1', taskId: 't1', uuid: 'u1' });
  assert.ok(s.tasks.has('t1'));
  apply(s, { type: 'StatusAcknowledged', at: 6, frameworkId: 'f1', taskId: 't1', uuid: 'u2' });
  assert.equal(s.tasks.has('t1'), false);
  assert.equal(s.frameworks.get('f1')?.taskIds.size, 0);
  assert.equal(s.frameworks.get('f1')?.byExternalId.size, 0);
});

void test('a framework removed has its live tasks killed and its ended ones forgotten; launches for it do nothing', () => {
  const s = cell(registered('f1'), frameworkTask('f1', 't1', 'ext-1'), frameworkTask('f1', 't2', 'ext-2'), fwStatus('t2', 'TASK_FINISHED', 'u2', 3));
  apply(s, { type: 'FrameworkRemoved', at: 4, frameworkId: 'f1', message: 'torn down' });
  assert.equal(s.frameworks.has('f1'), false);
  assert.equal(s.tasks.get('t1')?.kill?.reason, 'REASON_FRAMEWORK_REMOVED');
  assert.ok(s.killing.has('t1'));
  assert.equal(s.tasks.has('t2'), false);
  // Its task ends: it is forgotten (no framework to tell) and its resources are back.
  apply(s, fwStatus('t1', 'TASK_FINISHED', 'u3', 5));
  assert.equal(s.tasks.has('t1'), false);
  assert.equal(s.agents.get('a1')?.used.cpusMilli, 0);
  apply(s, frameworkTask('f1', 't3', 'ext-3', 6));
  assert.equal(s.tasks.has('t3'), false, 'no task for a framework that is gone');
});

void test("a framework's kill marks only its own live tasks, and frameworks survive a snapshot", () => {
  const s = cell(registered('f1'), registered('f2'), frameworkTask('f1', 't1', 'ext-1'), frameworkTask('f2', 't2', 'ext-1'));
  apply(s, { type: 'FrameworkTasksKilled', at: 3, frameworkId: 'f1', taskIds: ['t1', 't2'] });
  assert.equal(s.tasks.get('t1')?.kill?.reason, 'REASON_TASK_KILLED');
  assert.equal(s.tasks.get('t2')?.kill, undefined, "another framework's task is not touched");
  apply(s, registered('f1', 9));
  assert.equal(s.frameworks.get('f1')?.reregisteredAt, 9);
  const back = deserializeState(serializeState(s));
  assert.deepEqual([...back.frameworks.keys()], ['f1', 'f2']);
  assert.equal(back.frameworks.get('f1')?.byExternalId.get('ext-1'), 't1');
  assert.deepEqual([...(back.frameworks.get('f2')?.taskIds ?? [])], ['t2']);
  assert.equal(serializeState(back), serializeState(s));
});

// ---- outcomes are decided by the command and folded by apply -------------------------------------

void test('apply() folds the outcome an end recorded, whatever today\'s controllers would decide', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec({ restartBackoff: { initialSecs: 2, maxSecs: 30, stableSecs: 60 } }) }, launched('t0', 0), status('t0', 'TASK_RUNNING', 11));
  // Today's service controller would restart after 2 s with one failure; the event says otherwise.
  apply(s, { type: 'TaskStatusUpdated', at: 20, status: { taskId: 't0', state: 'TASK_FAILED', uuid: 'u', timestamp: 20 }, outcome: { state: 'PENDING', notBefore: 99_000, failures: 7 } });
  const inst = s.jobs.get('web/prod/hello')?.instances[0];
  assert.equal(inst?.state, 'PENDING');
  assert.equal(inst?.notBefore, 99_000);
  assert.equal(inst?.failures, 7);
  // Without an outcome (a log written before outcomes were recorded), the controller decides as it did then.
  const old = cell({ type: 'JobCreated', at: 1, spec: spec({ restartBackoff: { initialSecs: 2, maxSecs: 30, stableSecs: 60 } }) }, launched('t0', 0), status('t0', 'TASK_RUNNING', 11), status('t0', 'TASK_FAILED', 20));
  assert.deepEqual([old.jobs.get('web/prod/hello')?.instances[0]?.notBefore, old.jobs.get('web/prod/hello')?.instances[0]?.failures], [2020, 1]);
});

void test('apply() folds the outcomes an unreachable agent recorded for its tasks\' instances', () => {
  const s = cell({ type: 'JobCreated', at: 1, spec: spec({ kind: 'batch', maxTaskFailures: 3 }) }, launched('t0', 0), launched('t1', 1), status('t0', 'TASK_RUNNING', 11));
  apply(s, { type: 'AgentUnreachable', at: 30, agentId: 'a1', message: 'silent', outcomes: { t0: { state: 'FAILED', failures: 3 } } });
  const job = s.jobs.get('web/prod/hello');
  assert.equal(job?.instances[0]?.state, 'FAILED');
  assert.equal(job?.state, 'FAILED', 'a FAILED outcome fails the batch job');
  // t1 had no outcome recorded: decided as before (lost with its agent: pending again at once, uncounted).
  assert.equal(job?.instances[1]?.state, 'KILLED', 'the failed job kills its other instances');
});
